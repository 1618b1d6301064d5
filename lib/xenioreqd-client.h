/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libxenioreqd-client: what a virtio backend of a Xen guest needs from Xen,
 * memory aside, over xen-ioreqd's socket: queue kicks (ioeventfds),
 * interrupts into the guest (irqfds) and the accesses to a device's other
 * registers (claims).
 *
 * A backend connects to the guest's socket (one socket per guest, path from
 * the daemon's configuration, e.g. /run/xen-ioreqd/NAME.sock), then
 * registers eventfds; a guest write that matches a registration signals its
 * eventfd.  Everything the connection registered, assigned or claimed is
 * removed when it closes.  The protocol is described in
 * xen-ioreqd-protocol(7).
 *
 * Calls are synchronous (one request, one reply) and return 0 or a negative
 * errno.  Errors the daemon reports are returned as they are (-EEXIST,
 * -ENOSPC, ...); transport problems (-ECONNRESET when the daemon went away,
 * -ETIMEDOUT, -EPROTO for a malformed reply) also make the connection
 * unusable: every later call returns -ENOTCONN; close it and reconnect.
 * Irqfds and claims need protocol version 2: with a daemon that speaks only
 * version 1 their calls return -EPROTONOSUPPORT and send nothing.
 * A connection is not thread-safe; use one per thread or lock around it.
 * Every file descriptor the library creates or receives is close-on-exec;
 * the library never raises SIGPIPE.
 *
 * Porting from Linux privcmd (include/uapi/xen/privcmd.h, Linux >= 6.7):
 * xenioreqd_ioeventfd() and xenioreqd_irqfd() take the arguments of struct
 * privcmd_ioeventfd and struct privcmd_irqfd, field by field:
 *
 *   privcmd_ioeventfd   xen-ioreqd
 *   ioreq, ports        not needed: the daemon owns the ioreq server, maps its
 *                       ioreq page and binds the vCPUs' event channels
 *   vcpus               not needed, for the same reason
 *   dom                 implied by the socket (one per guest); compare with
 *                       xenioreqd_domid() if the caller knows the domid
 *   addr                addr: the virtio-mmio device base; the registration
 *                       is for base + 0x50 (QUEUE_NOTIFY), as privcmd matches
 *   addr_len            addr_len: size of the guest write (4 for virtio-mmio)
 *   event_fd            event_fd (an eventfd; the daemon checks it is one)
 *   vq                  vq: matches when (data & 0xffff) == vq
 *   flags               flags: XENIOREQD_IOEVENTFD_FLAG_DEASSIGN has the value
 *                       of PRIVCMD_IOEVENTFD_FLAG_DEASSIGN
 *
 *   privcmd_irqfd       xen-ioreqd
 *   dm_op, size         dm_op, size: the same buffer, a struct xen_dm_op in
 *                       the host's byte order; only XEN_DMOP_set_irq_level
 *                       with level 1 is taken (it becomes an irqfd of action
 *                       XIRQ_IRQ_LINE, mode XIRQ_IRQFD_RAISE), see
 *                       xenioreqd_irqfd()
 *   fd                  fd (an eventfd)
 *   flags               flags: XENIOREQD_IRQFD_FLAG_DEASSIGN has the value of
 *                       PRIVCMD_IRQFD_FLAG_DEASSIGN
 *   dom, pad            dom: implied by the socket; pad: not needed
 *
 * Unlike privcmd, an ioeventfd deassign is identified by (addr, addr_len, vq);
 * the event_fd argument is then ignored.  An irqfd deassign is identified by
 * its eventfd, as with privcmd.
 */
#ifndef XENIOREQD_CLIENT_H
#define XENIOREQD_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__cplusplus) && !defined(_Static_assert)
/* protocol.h checks its struct sizes with C11's _Static_assert */
#define _Static_assert static_assert
#define XENIOREQD_CLIENT_UNDEF_STATIC_ASSERT
#endif
#include <xenioreqd/protocol.h>
#ifdef XENIOREQD_CLIENT_UNDEF_STATIC_ASSERT
#undef _Static_assert
#undef XENIOREQD_CLIENT_UNDEF_STATIC_ASSERT
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xenioreqd_client xenioreqd_client;

/* Same value as PRIVCMD_IOEVENTFD_FLAG_DEASSIGN. */
#define XENIOREQD_IOEVENTFD_FLAG_DEASSIGN       (1u << 0)
/* Same value as PRIVCMD_IRQFD_FLAG_DEASSIGN. */
#define XENIOREQD_IRQFD_FLAG_DEASSIGN           (1u << 0)

/* Default time to wait for a reply, in milliseconds. */
#define XENIOREQD_DEFAULT_TIMEOUT_MS            10000

/*
 * Connect to a guest's socket and do the HELLO handshake.  Errors: those of
 * socket(2)/connect(2) (-ENOENT: no such socket, -ECONNREFUSED: daemon not
 * listening, -EACCES: no write permission on the socket), the daemon's
 * refusal (-EACCES: uid/gid not allowed, -EUSERS: too many connections),
 * -EPROTONOSUPPORT (no common version), -ENAMETOOLONG, -ECONNRESET (the
 * daemon closed the connection), -ETIMEDOUT, -EPROTO, -ENOMEM.
 */
int xenioreqd_connect(const char *socket_path, xenioreqd_client **ret);

/*
 * The same over an already connected AF_UNIX SOCK_SEQPACKET socket (e.g.
 * handed over by a supervisor).  Takes ownership of fd, also on failure; it
 * should be close-on-exec.
 */
int xenioreqd_connect_fd(int fd, xenioreqd_client **ret);

/*
 * Close the connection (removing all its registrations, irqfds and claims);
 * accepts NULL.  Claim handles of the connection stay valid for
 * xenioreqd_claim_free() (and xenioreqd_unclaim(), which then returns
 * -ENOTCONN), nothing else.
 */
void xenioreqd_close(xenioreqd_client *c);

/* Reply timeout for later calls; 0 or negative waits forever. */
void xenioreqd_set_timeout(xenioreqd_client *c, int timeout_ms);

/*
 * The connected socket, for poll(2): it becomes readable (POLLHUP/POLLIN)
 * when the daemon closes the connection, e.g. because the guest died.  Do not
 * read from it or close it.
 */
int xenioreqd_fd(const xenioreqd_client *c);

/* Still usable (no transport error seen)? */
bool xenioreqd_connected(const xenioreqd_client *c);

/* From the HELLO reply: guest domid (0xffffffff if not running), version, limit. */
uint32_t xenioreqd_domid(const xenioreqd_client *c);
uint16_t xenioreqd_version(const xenioreqd_client *c);
uint32_t xenioreqd_max_registrations(const xenioreqd_client *c);

/*
 * privcmd-compatible registration (see above).  addr_len 1, 2, 4 or 8;
 * vq must fit the write (≤ 0xff for addr_len 1).  addr_len 4 uses the
 * VIRTIO_MMIO message, the others an ASSIGN with mask 0xffff (0xff for 1).
 */
int xenioreqd_ioeventfd(xenioreqd_client *c, uint64_t addr, uint32_t addr_len, int event_fd, uint32_t vq,
                        uint32_t flags);

/*
 * General registration: a guest write of exactly len bytes at (space, addr)
 * signals event_fd when its data matches:
 *   XIRQ_MATCH_ANY    any data (value and mask 0)
 *   XIRQ_MATCH_EXACT  data == value (mask 0)
 *   XIRQ_MATCH_MASK   (data & mask) == value
 * space is XIRQ_SPACE_MMIO or XIRQ_SPACE_PIO.  Daemon errors: -EINVAL (bad
 * field, or event_fd is not an eventfd), -EEXIST (collides with a
 * registration: same key, ANY against anything at that address, overlapping
 * range, data sets that intersect), -ENOSPC (limits: registrations, ranges,
 * masks per address), -ESRCH (guest not running), -EBUSY (another process's
 * ioreq server of the guest has an id the daemon's cannot be placed above),
 * an error of Xen when the ioreq server cannot be set up; see
 * xen-ioreqd-protocol(7) for the full list.
 */
int xenioreqd_assign(xenioreqd_client *c, uint8_t space, uint64_t addr, uint8_t len, uint8_t match,
                     uint64_t value, uint64_t mask, int event_fd);

/* Remove the registration with exactly these fields (-ENOENT if none). */
int xenioreqd_deassign(xenioreqd_client *c, uint8_t space, uint64_t addr, uint8_t len, uint8_t match,
                       uint64_t value, uint64_t mask);

/* virtio-mmio shortcut: MMIO base + 0x50, len 4, (data & 0xffff) == queue. */
int xenioreqd_virtio_mmio_assign(xenioreqd_client *c, uint64_t base, uint16_t queue, int event_fd);
int xenioreqd_virtio_mmio_deassign(xenioreqd_client *c, uint64_t base, uint16_t queue);

/* State and counters of the guest (see struct xirq_query_reply). */
typedef struct xenioreqd_guest_info {
        uint32_t state;                 /* XIRQ_GUEST_* */
        uint32_t domid;                 /* 0xffffffff if not running */
        uint32_t server_id;             /* 0xffffffff if none */
        uint32_t nr_vcpus;
        uint32_t registrations;         /* of the guest, all clients */
        uint32_t client_registrations;  /* of this connection */
        uint64_t kicks;
        uint64_t unmatched;
        uint64_t reads;
        uint64_t invalid;
        uint64_t other;
} xenioreqd_guest_info;

int xenioreqd_query(xenioreqd_client *c, xenioreqd_guest_info *ret);

/* ---- version 2: interrupts ---- */

/*
 * What a signal of an irqfd's eventfd injects into the guest (see the
 * XIRQ_IRQ_* and XIRQ_IRQFD_* constants of <xenioreqd/protocol.h>).  Set the
 * fields of the action, leave the others 0.
 */
typedef struct xenioreqd_irqfd_spec {
        uint8_t action;         /* XIRQ_IRQ_LINE, _ISA, _INTX, _MSI or _EVTCHN */
        uint8_t mode;           /* XIRQ_IRQFD_EDGE, _LEVEL or _RAISE; EDGE for MSI and EVTCHN */
        uint32_t irq;           /* LINE: GSI, or SPI on Arm (<= 1019); ISA: 0..15; EVTCHN: the guest's port */
        uint16_t segment;       /* INTX */
        uint8_t bus;            /* INTX */
        uint8_t device;         /* INTX: 0..31 */
        uint8_t pin;            /* INTX: 0..3 for INTA..INTD */
        uint64_t msi_addr;      /* MSI */
        uint32_t msi_data;      /* MSI */
} xenioreqd_irqfd_spec;

/*
 * Assign an irqfd: every write to trigger_fd (an eventfd) injects the
 * interrupt of spec, from the daemon's worker of the guest.  Writes coalesce:
 * N writes before the worker reads the eventfd inject once.  The modes:
 *   XIRQ_IRQFD_EDGE   each signal raises the line and lowers it again
 *   XIRQ_IRQFD_LEVEL  a signal of trigger_fd raises the line; it stays up until
 *                     the backend signals resample_fd (a second eventfd),
 *                     which lowers it: signal it when the device has nothing
 *                     pending any more (e.g. the driver acknowledged the last
 *                     InterruptStatus bit of a virtio-mmio device)
 *   XIRQ_IRQFD_RAISE  each signal raises the line, nothing lowers it (what
 *                     privcmd's irqfd does with set_irq_level(irq, 1))
 * resample_fd is given in LEVEL mode only (-1 otherwise).  The library names
 * the irqfd: its id goes to *ret_id (if not NULL), for
 * xenioreqd_irqfd_deassign().  The eventfds stay the caller's (the daemon
 * gets copies).
 * Errors: -EPROTONOSUPPORT (version 1 daemon), -EINVAL (spec NULL,
 * resample_fd given outside LEVEL mode), -EBADF (trigger_fd < 0, or
 * resample_fd < 0 in LEVEL mode); from the daemon -EINVAL (a field out of
 * range for the action or the guest, an fd that is not an eventfd), -ENOSPC
 * (limits), -ESRCH (guest not running); see xen-ioreqd-protocol(7).
 */
int xenioreqd_irqfd_assign(xenioreqd_client *c, const xenioreqd_irqfd_spec *spec, int trigger_fd,
                           int resample_fd, uint32_t *ret_id);

/*
 * Deassign the irqfd id (-ENOENT if the connection has none by that id).  A
 * LEVEL line that is up stays as it is: signal the resample eventfd first to
 * lower it.
 */
int xenioreqd_irqfd_deassign(xenioreqd_client *c, uint32_t id);

/*
 * privcmd-compatible irqfd (see above).  dm_op points to size bytes holding a
 * struct xen_dm_op in the host's byte order: op XEN_DMOP_set_irq_level (19),
 * pad 0, then the operation's irq, level and 3 pad bytes of 0; bytes past
 * those 16 are ignored, as Xen ignores them.
 *
 * Assign (flags 0): level 1 assigns an irqfd of action XIRQ_IRQ_LINE, mode
 * XIRQ_IRQFD_RAISE on irq, for the eventfd fd.  Level 0 (an irqfd that would
 * only ever lower the line) is refused with -EOPNOTSUPP: use
 * xenioreqd_irqfd_assign() in LEVEL mode, whose resample eventfd lowers the
 * line.  Every other operation is refused with -EOPNOTSUPP: xen-ioreqd runs
 * no raw dm_op for its clients.  The same eventfd (the same open file, by any
 * descriptor) assigned twice gives -EBUSY, as with privcmd.
 *
 * Deassign (flags XENIOREQD_IRQFD_FLAG_DEASSIGN): removes the irqfd this call
 * assigned for the same eventfd, which fd may name through another
 * descriptor (a dup); dm_op and size are not looked at, as with privcmd.
 * -ENOENT if there is none (privcmd returns 0).
 *
 * Errors: -EPROTONOSUPPORT (version 1 daemon), -EINVAL (unknown flags, size
 * below 16 or above 4096, dm_op NULL, a pad byte not 0, level above 1, fd
 * not an eventfd), -EBADF (fd not open), -EOPNOTSUPP, -EBUSY, -ENOENT, -ENOMEM,
 * and those of xenioreqd_irqfd_assign().  The eventfd is told apart by its
 * eventfd-id in /proc/self/fdinfo; where that cannot be read, by its
 * descriptor number.
 */
int xenioreqd_irqfd(xenioreqd_client *c, const void *dm_op, uint32_t size, int fd, uint32_t flags);

/* ---- version 2: forwarded accesses ---- */

typedef struct xenioreqd_claim xenioreqd_claim;

/* A guest access inside a claimed range, as xenioreqd_claim_next() hands it out. */
typedef struct xenioreqd_access {
        uint32_t seq;           /* names it in xenioreqd_claim_answer() */
        uint16_t vcpu;
        uint8_t dir;            /* XIRQ_ACCESS_READ or XIRQ_ACCESS_WRITE */
        uint8_t size;           /* 1, 2, 4 or 8 */
        uint64_t addr;          /* guest address (port for PIO) */
        uint64_t offset;        /* addr minus the claim's start */
        uint64_t data;          /* a write's data, its low size bytes only; 0 for a read */
} xenioreqd_access;

/*
 * Claim [addr, addr + len) of space (XIRQ_SPACE_MMIO or XIRQ_SPACE_PIO):
 * every guest access inside it that no ioeventfd registration consumes is
 * forwarded to this connection, and completes with its answer.  deadline_ms
 * bounds the time to answer (0: the guest's configured default, else
 * 1..60000): an access not answered in time is completed by the daemon (a
 * read gets all-ones) and the daemon closes the connection.
 *
 * The claim handle holds the shared ring (mapped) and the two eventfds of
 * the daemon's reply.  xenioreqd_claim_next() and xenioreqd_claim_answer()
 * touch only the claim: one thread may serve it while another makes the
 * connection's calls (any but xenioreqd_unclaim() or xenioreqd_claim_free()
 * of that claim).  Serve it like this:
 *
 *   poll xenioreqd_claim_fd() for POLLIN, then
 *   while ((r = xenioreqd_claim_next(cl, &a)) == 1)
 *           xenioreqd_claim_answer(cl, a.seq, a.dir == XIRQ_ACCESS_READ ? value : 0);
 *
 * Errors: -EPROTONOSUPPORT (version 1 daemon), -EINVAL (ret NULL), -ENOMEM;
 * from the daemon -EINVAL (space, len 0 or above XIRQ_CLAIM_MAX, a range
 * that wraps or leaves the space, deadline above 60000), -EEXIST (overlaps
 * another connection's claim), -ENOSPC (limits), -ESRCH (guest not
 * running).  A reply whose ring is unusable (not a memfd sealed against
 * shrinking, smaller than struct xirq_ring, wrong magic or size) is a
 * malformed reply: -EPROTO, and the connection is unusable.
 */
int xenioreqd_claim_range(xenioreqd_client *c, uint8_t space, uint64_t addr, uint64_t len, uint32_t deadline_ms,
                          xenioreqd_claim **ret);

/*
 * The eventfd the daemon signals when it posts accesses, for poll(2)
 * (POLLIN).  Do not read it or close it: xenioreqd_claim_next() resets it
 * when it finds the ring empty.
 */
int xenioreqd_claim_fd(const xenioreqd_claim *cl);

/* The claim's id on the connection (chosen by the library), its range. */
uint32_t xenioreqd_claim_id(const xenioreqd_claim *cl);
uint64_t xenioreqd_claim_addr(const xenioreqd_claim *cl);
uint64_t xenioreqd_claim_len(const xenioreqd_claim *cl);

/*
 * Take the next access the daemon posted: 1 with *ret filled, 0 when there
 * is none (the eventfd is then reset: poll it again).  Never blocks; every
 * call takes at most one access.  What the daemon wrote to the ring is
 * checked before use: an index more than XIRQ_RING_SIZE ahead, an entry of
 * another claim, of an unknown direction, of a size other than 1, 2, 4 or 8,
 * outside the claimed range, or a seq already taken and not answered, or more
 * than XIRQ_RING_SIZE accesses unanswered give -EPROTO, and every later call
 * on the claim returns -EPROTO: unclaim or free it.
 */
int xenioreqd_claim_next(xenioreqd_claim *cl, xenioreqd_access *ret);

/*
 * Answer the access seq (taken with xenioreqd_claim_next() and not answered
 * yet) and signal the daemon.  data is a read's value: its low size bytes are
 * used; for a write it is ignored.  Errors: -ENOENT (no such access pending),
 * -EAGAIN (the answer ring is full: the daemon has not consumed earlier
 * answers; try again later), -EPROTO (the ring is broken: see
 * xenioreqd_claim_next(), or the daemon's answer_cons is not within a ring
 * of the answers posted; the claim is then broken for good).  If
 * signalling the daemon's eventfd fails, the answer is posted all the same
 * and the write(2) error is returned.
 */
int xenioreqd_claim_answer(xenioreqd_claim *cl, uint32_t seq, uint64_t data);

/*
 * Give the range back (UNCLAIM) and free the handle, whatever the outcome.
 * Accesses taken and not answered are completed by the daemon.  Errors:
 * those of the daemon (-ENOENT), transport errors, -ENOTCONN (the connection
 * is closed or unusable: the claim is gone with it).
 */
int xenioreqd_unclaim(xenioreqd_claim *cl);

/*
 * Free the handle without telling the daemon: the range stays claimed until
 * the connection closes (unanswered accesses then hit their deadline).  Use
 * it after the connection is closed or unusable.  Accepts NULL.
 */
void xenioreqd_claim_free(xenioreqd_claim *cl);

#ifdef __cplusplus
}
#endif

#endif
