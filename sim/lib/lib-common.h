/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * lib-common.h - what the drop-in libraries share: one host connection per handle, used
 * under a lock, the handle's restriction, and the errno convention of the real libraries
 * (-1 and errno).
 */
#ifndef XENSIM_LIB_COMMON_H
#define XENSIM_LIB_COMMON_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xensim-client.h"
#include "xentoolcore-internal.h"

/*
 * A handle's connection to xensimd. Each handle has its own, so that xensimd sees one
 * connection per handle: what it is (XS_OP_CLIENT_KIND, sent at open), its restriction, and
 * what it holds.
 */
struct lib_conn {
        int fd;
        pthread_mutex_t lock;
        bool restricted;                /* as xensimd has it (evtchn checks some calls here) */
        uint32_t rdomid;
        unsigned forks;                 /* xsc_forks() when it connected */
};

/* Connect; kind (XS_CLIENT_*, or XS_CLIENT_NONE to say nothing yet) is told to xensimd. */
static inline int lib_conn_open(struct lib_conn *c, uint64_t kind) {
        int r;
        pthread_mutex_init(&c->lock, NULL);
        c->restricted = false;
        r = xsc_connect(NULL, &c->fd);
        if (r < 0) {
                /* The real libraries log open failures too; say where xensim was looked for. */
                const char *dir = getenv("XENSIM_DIR");
                fprintf(stderr, "xensim: cannot reach the simulated Xen host at %s%s: %s\n",
                        dir && *dir ? dir : "(XENSIM_DIR is not set)",
                        dir && *dir ? "/host.sock" : "", strerror(-r));
                c->fd = -1;
                return r;
        }
        c->forks = xsc_forks();
        /* Without an answer: opening /dev/xen/privcmd asks Xen nothing either. */
        if (kind != XS_CLIENT_NONE)
                return xsc_post(c->fd, XS_OP_CLIENT_KIND, &kind, 1);
        return 0;
}

/* Undo lib_conn_open (also after it failed): xensimd drops what the connection held. */
static inline void lib_conn_close(struct lib_conn *c) {
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        pthread_mutex_destroy(&c->lock);
}

/*
 * Restrict the handle to domid (op: XS_OP_DM_RESTRICT, XS_OP_FM_RESTRICT or
 * XS_OP_EVT_RESTRICT). On Linux this is an ioctl that the device decides alone, at once; so
 * here: the library applies the device's rules (xs_restrict_rule) and tells xensimd without
 * waiting (xsc_post), which serves it before the handle's next request and before any answer
 * about what clients hold. A handle shared with another process since it opened (a fork)
 * asks xensimd instead: that process may have restricted it. Returns 0 or -1 with errno set.
 */
static inline int lib_restrict(struct lib_conn *c, uint16_t op, uint32_t domid) {
        uint64_t a = domid;
        int r;
        pthread_mutex_lock(&c->lock);
        if (c->fd < 0)
                r = -EBADF;
        else if (c->forks != xsc_forks())
                r = xsc_op(c->fd, op, &a, 1, NULL);
        else {
                r = xs_restrict_rule(op, c->restricted, c->rdomid, domid);
                if (r > 0)
                        r = xsc_post(c->fd, op, &a, 1);
        }
        if (r == 0) {
                c->restricted = true;
                c->rdomid = domid;
        }
        pthread_mutex_unlock(&c->lock);
        if (r < 0) {
                errno = -r;
                return -1;
        }
        return 0;
}

/* One operation; returns 0 or -1 with errno set (the real libraries' convention). */
static inline int lib_op(struct lib_conn *c, uint16_t op, const uint64_t *a, unsigned na,
                         uint64_t *ret_val) {
        struct xs_req req = { .op = op };
        struct xs_rep rep;
        int r;

        for (unsigned i = 0; i < na && i < 6; i++)
                req.a[i] = a[i];
        pthread_mutex_lock(&c->lock);
        if (c->fd < 0)
                r = -EBADF;
        else {
                r = xsc_call(c->fd, &req, &rep, NULL, 0);
                if (r == 0)
                        r = -rep.err;
        }
        pthread_mutex_unlock(&c->lock);
        if (r < 0) {
                errno = -r;
                return -1;
        }
        if (ret_val)
                memcpy(ret_val, rep.val, sizeof(rep.val));
        return 0;
}

/* The process's mapping of the host's shm behind connection c (see xensim-client.h). */
static inline int lib_host_get(struct lib_conn *c, struct xsc_host **ret) {
        return xensim__host_get(c->fd, ret);
}

#define LIB_ARGS(...) (const uint64_t[]){ __VA_ARGS__ }, \
        sizeof((const uint64_t[]){ __VA_ARGS__ }) / sizeof(uint64_t)

#endif
