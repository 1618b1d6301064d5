/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libxenioreqd-client: register ioeventfds for a Xen guest with xen-ioreqd.
 *
 * A backend connects to the guest's socket (one socket per guest, path from
 * the daemon's configuration, e.g. /run/xen-ioreqd/NAME.sock), then
 * registers eventfds; a guest write that matches a registration signals its
 * eventfd.  Everything the connection registered is removed when it closes.
 * The protocol is described in xen-ioreqd-protocol(7).
 *
 * Calls are synchronous (one request, one reply) and return 0 or a negative
 * errno.  Errors the daemon reports are returned as they are (-EEXIST,
 * -ENOSPC, ...); transport problems (-ECONNRESET when the daemon went away,
 * -ETIMEDOUT, -EPROTO for a malformed reply) also make the connection
 * unusable: every later call returns -ENOTCONN; close it and reconnect.
 * A connection is not thread-safe; use one per thread or lock around it.
 * Every file descriptor the library creates is close-on-exec; the library
 * never raises SIGPIPE.
 *
 * Porting from Linux privcmd ioeventfd (IOCTL_PRIVCMD_IOEVENTFD,
 * include/uapi/xen/privcmd.h): xenioreqd_ioeventfd() takes the same
 * arguments as struct privcmd_ioeventfd, field by field:
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
 * Unlike privcmd, a deassign is identified by (addr, addr_len, vq); the
 * event_fd argument is then ignored.
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

/* Close the connection (removing all its registrations); accepts NULL. */
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

#ifdef __cplusplus
}
#endif

#endif
