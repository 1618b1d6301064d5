/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xq-wire.h: what the harness's own xen-ioreqd clients (xq-client, xq-query)
 * share, written straight against include/xenioreqd/protocol.h (no client
 * library): connecting to a guest socket with bounded socket timeouts, and
 * the HELLO exchange.  Each program includes it once.
 */
#ifndef XQ_WIRE_H
#define XQ_WIRE_H

#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "xenioreqd/protocol.h"

/*
 * A SOCK_SEQPACKET connection to path; every send and receive on it gives up
 * after timeout_s seconds.  The fd, -ENAMETOOLONG, or -errno.
 */
static int xq_connect(const char *path, int timeout_s)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct timeval tv = { .tv_sec = timeout_s };
        int fd, e;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
            connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                e = errno;
                close(fd);
                return -e;
        }
        return fd;
}

/*
 * HELLO (seq 1) offering this protocol version: 0 with the reply in *ret,
 * the daemon's error (> 0), or -errno (-EBADMSG: a reply of the wrong size).
 */
static int xq_hello(int fd, struct xirq_hello_reply *ret)
{
        struct xirq_hello h = { .hdr = { .type = htole16(XIRQ_MSG_HELLO), .seq = htole32(1) },
                                .magic = htole32(XIRQ_PROTO_MAGIC),
                                .version_min = htole16(XIRQ_PROTO_VERSION),
                                .version_max = htole16(XIRQ_PROTO_VERSION) };
        ssize_t n;

        if (send(fd, &h, sizeof(h), MSG_NOSIGNAL) != (ssize_t)sizeof(h))
                return -errno;
        n = recv(fd, ret, sizeof(*ret), 0);
        if (n < 0)
                return -errno;
        if (n != (ssize_t)sizeof(*ret))
                return -EBADMSG;
        return (int)le32toh((uint32_t)ret->error);
}

#endif
