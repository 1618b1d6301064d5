/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Packets with descriptors on SOCK_SEQPACKET sockets (clients, and the
 * channel between the parent and a worker): one packet is one message and
 * its descriptors; nothing here ever blocks or raises SIGPIPE, and every
 * descriptor received arrives close-on-exec.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

enum {
        FDIO_TRUNC      = 1u << 0,      /* the payload was longer than the buffer */
        FDIO_CTRUNC     = 1u << 1,      /* descriptors were lost on the way */
        FDIO_BADCTL     = 1u << 2,      /* control data other than SCM_RIGHTS */
};

/*
 * One packet: its payload into buf, its descriptors into fds (up to max_fds;
 * any beyond are closed and the packet marked FDIO_CTRUNC).  Returns the
 * payload length (0 with no descriptors: end of file), -EAGAIN when nothing
 * is queued, or another -errno.  The caller owns and must close fds[0..*ret_nfds).
 */
ssize_t fdio_recv(int sock, void *buf, size_t size, int *fds, unsigned max_fds, unsigned *ret_nfds,
                  unsigned *ret_flags);

/* One packet with nfds (0..4) descriptors; a full socket buffer is -ENOBUFS. */
int fdio_send(int sock, const void *buf, size_t len, const int *fds, unsigned nfds);

/* Is fd an eventfd?  0, -EINVAL if not, or -errno. */
int fdio_check_eventfd(int fd);
/* The same, and it is made non-blocking (its file description is shared: the sender's changes too). */
int fdio_take_eventfd(int fd);
