/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * guest-ram.c - the guest's side of its RAM: the domain's memfd (XS_OP_RAM_FD) mapped whole
 * into this process once per domain and kept until xsg_close (the pointers of xsg_ram_ptr
 * stay valid that long, also after the domain is destroyed), giving frames back and
 * populating them (XS_OP_RAM_POPULATE), and waiting for the interrupt log.
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "guest-internal.h"
#include "xensim-client.h"
#include "xensim-guest.h"

struct ram_map {
        uint32_t domid;                 /* domids are never reused: the key */
        void *base;
        uint64_t size;
        struct ram_map *next;
};

struct guest_ram {
        pthread_mutex_t lock;
        struct ram_map *maps;
};

int guest_ram_new(struct guest_ram **ret) {
        struct guest_ram *r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        pthread_mutex_init(&r->lock, NULL);
        *ret = r;
        return 0;
}

struct guest_ram *guest_ram_free(struct guest_ram *r) {
        if (!r)
                return NULL;
        while (r->maps) {
                struct ram_map *m = r->maps;
                r->maps = m->next;
                munmap(m->base, m->size);
                free(m);
        }
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
}

int xsg_ram_ptr(xsg *g, uint32_t domid, void **ret, uint64_t *ret_bytes) {
        struct guest_ram *gr = guest_ram_of(g);
        struct ram_map *m;
        uint64_t v[4];
        int fd = -1, r = 0;

        pthread_mutex_lock(&gr->lock);
        for (m = gr->maps; m; m = m->next)
                if (m->domid == domid)
                        goto found;
        r = guest_op_fd(g, XS_OP_RAM_FD, (const uint64_t[]){ domid }, 1, v, &fd);
        if (r < 0)
                goto out;
        m = calloc(1, sizeof(*m));
        if (!m) {
                r = -ENOMEM;
                goto out;
        }
        m->domid = domid;
        m->size = v[0];
        m->base = m->size ? mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                          : MAP_FAILED;
        if (m->base == MAP_FAILED) {
                r = m->size ? -errno : -EPROTO;
                free(m);
                goto out;
        }
        m->next = gr->maps;
        gr->maps = m;
found:
        *ret = m->base;
        if (ret_bytes)
                *ret_bytes = m->size;
out:
        pthread_mutex_unlock(&gr->lock);
        if (fd >= 0)
                close(fd);
        return r;
}

static int ram_range(xsg *g, uint32_t domid, uint64_t gpa, size_t len, char **ret) {
        uint64_t size;
        void *base;
        int r = xsg_ram_ptr(g, domid, &base, &size);

        if (r < 0)
                return r;
        if (gpa > size || len > size - gpa)
                return -EFAULT;
        *ret = (char *)base + gpa;
        return 0;
}

int xsg_ram_read(xsg *g, uint32_t domid, uint64_t gpa, void *buf, size_t len) {
        char *p;
        int r = ram_range(g, domid, gpa, len, &p);
        if (r == 0)
                memcpy(buf, p, len);
        return r;
}

int xsg_ram_write(xsg *g, uint32_t domid, uint64_t gpa, const void *buf, size_t len) {
        char *p;
        int r = ram_range(g, domid, gpa, len, &p);
        if (r == 0)
                memcpy(p, buf, len);
        return r;
}

int xsg_ram_populate(xsg *g, uint32_t domid, uint64_t gfn, uint64_t count, bool populate) {
        return guest_op(g, XS_OP_RAM_POPULATE,
                        (const uint64_t[]){ domid, gfn, count, populate ? 1 : 0 }, 4, NULL);
}

static uint64_t mono_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The log is polled: from 20 µs between looks, doubling up to 1 ms. */
int xsg_irq_wait(xsg *g, uint32_t domid, uint64_t after_seq, int timeout_ms,
                 struct xsg_irq *ret) {
        uint64_t deadline = mono_us() +
                (uint64_t)(timeout_ms > 0 ? timeout_ms : XSG_DEFAULT_TIMEOUT_MS) * 1000u;
        unsigned nap = 20;

        for (;;) {
                int r = xsg_irq_next(g, domid, after_seq, ret);
                if (r != -ENOENT)
                        return r;
                if (mono_us() >= deadline)
                        return -ETIMEDOUT;
                usleep(nap);
                if (nap < 1000)
                        nap *= 2;
        }
}
