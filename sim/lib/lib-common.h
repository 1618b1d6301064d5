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
 * A handle's connection to xensimd. Restricting a handle is local to the fd on Linux (an
 * ioctl on privcmd or /dev/xen/evtchn, no hypercall), so it is decided here, with the
 * rules xensimd applies, and reaches xensimd with the handle's next request.
 */
struct lib_conn {
        int fd;
        pthread_mutex_t lock;
        bool restricted;
        uint32_t rdomid;
        uint32_t restrict_pending;      /* domid + 1 not yet sent to xensimd, 0 = none */
};

static inline int lib_conn_open(struct lib_conn *c) {
        int r;
        pthread_mutex_init(&c->lock, NULL);
        c->restricted = false;
        c->restrict_pending = 0;
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
 * Restrict the handle to domid. evtchn: Linux's evtchn device refuses any second restriction
 * (EACCES); privcmd (devicemodel, foreignmemory): the same domain again is fine, another
 * EINVAL. Returns 0 or -1 with errno set.
 */
static inline int lib_restrict(struct lib_conn *c, uint32_t domid, bool evtchn) {
        int r = 0;
        pthread_mutex_lock(&c->lock);
        if (c->restricted && (evtchn || c->rdomid != domid))
                r = evtchn ? EACCES : EINVAL;
        else if (!c->restricted) {
                c->restricted = true;
                c->rdomid = domid;
                c->restrict_pending = domid + 1;
        }
        pthread_mutex_unlock(&c->lock);
        if (r) {
                errno = r;
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
                req.restrict_dom = c->restrict_pending;
                r = xsc_call(c->fd, &req, &rep, NULL, 0);
                if (r == 0) {
                        c->restrict_pending = 0;        /* xensimd applied it first */
                        r = -rep.err;
                }
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
