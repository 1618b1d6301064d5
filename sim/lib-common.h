/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * lib-common.h - what the drop-in libraries share: one host connection per handle, used
 * under a lock, and the errno convention of the real libraries (-1 and errno).
 */
#ifndef XENSIM_LIB_COMMON_H
#define XENSIM_LIB_COMMON_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xensim-client.h"
#include "xentoolcore-internal.h"

struct lib_conn {
        int fd;
        pthread_mutex_t lock;
};

static inline int lib_conn_open(struct lib_conn *c) {
        int r;
        pthread_mutex_init(&c->lock, NULL);
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

/* One operation; returns 0 or -1 with errno set (the real libraries' convention). */
static inline int lib_op(struct lib_conn *c, uint16_t op, const uint64_t *a, unsigned na,
                         uint64_t *ret_val) {
        int r;
        pthread_mutex_lock(&c->lock);
        r = c->fd < 0 ? -EBADF : xsc_op(c->fd, op, a, na, ret_val);
        pthread_mutex_unlock(&c->lock);
        if (r < 0) {
                errno = -r;
                return -1;
        }
        return 0;
}

#define LIB_ARGS(...) (const uint64_t[]){ __VA_ARGS__ }, \
        sizeof((const uint64_t[]){ __VA_ARGS__ }) / sizeof(uint64_t)

#endif
