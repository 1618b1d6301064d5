/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xenstore.h>

#include "xenxs.h"

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

#define XENXS_MAX_DOMAINS 32768u        /* domids are below DOMID_FIRST_RESERVED */

struct Xenxs {
        struct xs_handle *h;
        struct ev_loop *loop;
        ev_io io;
        XenxsChangedFn changed;
        void *userdata;
};

static void xenxs_io_cb(struct ev_loop *loop, ev_io *w, int revents) {
        Xenxs *x = container_of(w, Xenxs, io);
        bool any = false;

        /* the fd may stop being readable after one call: drain until EAGAIN */
        for (unsigned n = 0; n < 1024; n++) {
                char **vec = xs_check_watch(x->h);

                if (!vec) {
                        if (errno != EAGAIN && errno != EINTR) {
                                int r = errno > 0 ? -errno : -EIO;

                                /* a broken connection stays readable: stop before spinning */
                                ev_io_stop(loop, &x->io);
                                x->changed(x, r, x->userdata);
                                return;
                        }
                        break;
                }
                free(vec);
                any = true;
        }
        /* one rescan covers any number of events */
        if (any)
                x->changed(x, 0, x->userdata);
}

int xenxs_new(Xenxs **ret, struct ev_loop *loop, XenxsChangedFn changed, void *userdata) {
        Xenxs *x;
        int fd, r;

        x = calloc(1, sizeof(*x));
        if (!x)
                return -ENOMEM;
        x->loop = loop;
        x->changed = changed;
        x->userdata = userdata;

        x->h = xs_open(0);
        if (!x->h)
                goto fail_errno;
        if (!xs_watch(x->h, "@introduceDomain", "introduce"))
                goto fail_errno;
        if (!xs_watch(x->h, "@releaseDomain", "release"))
                goto fail_errno;
        fd = xs_fileno(x->h);
        if (fd < 0)
                goto fail_errno;

        ev_io_init(&x->io, xenxs_io_cb, fd, EV_READ);
        ev_io_start(loop, &x->io);
        *ret = x;
        return 0;

fail_errno:
        r = errno > 0 ? -errno : -EIO;
        xenxs_free(x);
        return r;
}

Xenxs *xenxs_free(Xenxs *x) {
        if (!x)
                return NULL;
        if (x->loop)
                ev_io_stop(x->loop, &x->io);
        if (x->h)
                xs_close(x->h);
        free(x);
        return NULL;
}

static bool parse_domid(const char *s, uint32_t *ret) {
        char *end;
        unsigned long v;

        if (s[0] < '0' || s[0] > '9' || (s[0] == '0' && s[1] != '\0'))
                return false;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end != '\0' || v >= XENXS_MAX_DOMAINS)
                return false;
        *ret = (uint32_t) v;
        return true;
}

static int domain_compare(const void *a, const void *b) {
        const XenxsDomain *x = a, *y = b;

        return x->domid < y->domid ? -1 : x->domid > y->domid;
}

int xenxs_list_domains(Xenxs *x, XenxsDomain **ret, size_t *ret_n) {
        XenxsDomain *list = NULL;
        unsigned num = 0;
        size_t n = 0;
        char **dir;

        dir = xs_directory(x->h, XBT_NULL, "/local/domain", &num);
        if (!dir) {
                /* no domain at all is an empty list, not an error */
                if (errno != ENOENT)
                        return errno > 0 ? -errno : -EIO;
                num = 0;
        }
        if (num > XENXS_MAX_DOMAINS)
                num = XENXS_MAX_DOMAINS;

        if (num > 0) {
                list = calloc(num, sizeof(*list));
                if (!list) {
                        free(dir);
                        return -ENOMEM;
                }
        }

        for (unsigned i = 0; i < num; i++) {
                char path[64];
                uint32_t domid;
                unsigned len = 0;
                char *name;

                if (!parse_domid(dir[i], &domid))
                        continue;
                snprintf(path, sizeof path, "/local/domain/%" PRIu32 "/name", domid);
                name = xs_read(x->h, XBT_NULL, path, &len);
                if (!name)
                        continue;
                /* a name we could never match: too long, empty or with a NUL inside */
                if (len == 0 || len > XENXS_NAME_MAX || strlen(name) != len) {
                        free(name);
                        continue;
                }
                list[n].domid = domid;
                memcpy(list[n].name, name, len);
                list[n].name[len] = '\0';
                n++;
                free(name);
        }
        free(dir);

        if (n > 1)
                qsort(list, n, sizeof(*list), domain_compare);
        *ret = list;
        *ret_n = n;
        return 0;
}
