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
        XenxsDomain *doms;              /* the cache, sorted by domid */
        size_t n_doms;
};

static void xenxs_io_cb(struct ev_loop *loop, ev_io *w, int revents) {
        Xenxs *x = container_of(w, Xenxs, io);
        bool any = false;
        int r;

        /* the fd may stop being readable after one call: drain until EAGAIN */
        for (unsigned n = 0; n < 1024; n++) {
                char **vec = xs_check_watch(x->h);

                if (!vec) {
                        if (errno != EAGAIN && errno != EINTR) {
                                r = errno > 0 ? -errno : -EIO;
                                goto broken;
                        }
                        break;
                }
                free(vec);
                any = true;
        }
        /* one refresh covers any number of events; a failed one is tried again at the next event */
        if (any) {
                r = xenxs_refresh(x);
                if (r < 0)
                        x->changed(x, r, NULL, 0, NULL, 0, x->userdata);
        }
        return;
broken:
        /* a broken connection stays readable: stop before spinning */
        ev_io_stop(loop, &x->io);
        x->changed(x, r, NULL, 0, NULL, 0, x->userdata);
}

bool xenxs_watching(const Xenxs *x) {
        return ev_is_active(&x->io);
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
        free(x->doms);
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

static int domid_compare(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

        return x < y ? -1 : x > y;
}

/* The domids listed under /local/domain, sorted; *ret is malloc'ed (NULL when none). */
static int xenxs_list_domids(Xenxs *x, uint32_t **ret, size_t *ret_n) {
        uint32_t *ids = NULL;
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
                ids = calloc(num, sizeof(*ids));
                if (!ids) {
                        free(dir);
                        return -ENOMEM;
                }
        }
        for (unsigned i = 0; i < num; i++)
                if (parse_domid(dir[i], &ids[n]))
                        n++;
        free(dir);
        if (n > 1)
                qsort(ids, n, sizeof(*ids), domid_compare);
        *ret = ids;
        *ret_n = n;
        return 0;
}

/* The name of a new domain: false if it has none we could ever match (too long, empty, a NUL inside). */
static bool xenxs_read_name(Xenxs *x, uint32_t domid, XenxsDomain *ret) {
        char path[64];
        unsigned len = 0;
        char *name;

        snprintf(path, sizeof path, "/local/domain/%" PRIu32 "/name", domid);
        name = xs_read(x->h, XBT_NULL, path, &len);
        if (!name)
                return false;
        if (len == 0 || len > XENXS_NAME_MAX || strlen(name) != len) {
                free(name);
                return false;
        }
        ret->domid = domid;
        memcpy(ret->name, name, len);
        ret->name[len] = '\0';
        free(name);
        return true;
}

int xenxs_refresh(Xenxs *x) {
        XenxsDomain *next = NULL, *added = NULL;
        uint32_t *ids = NULL, *removed = NULL;
        size_t n_ids = 0, n_next = 0, n_added = 0, n_removed = 0, i = 0, j = 0;
        int r;

        r = xenxs_list_domids(x, &ids, &n_ids);
        if (r < 0)
                return r;
        /* next: at most every listed domid; removed: at most every cached one */
        next = calloc(n_ids ? n_ids : 1, sizeof(*next));
        added = calloc(n_ids ? n_ids : 1, sizeof(*added));
        removed = calloc(x->n_doms ? x->n_doms : 1, sizeof(*removed));
        if (!next || !added || !removed) {
                r = -ENOMEM;
                goto finish;
        }

        /* both lists are sorted by domid: one merge tells kept, removed and new */
        while (i < x->n_doms || j < n_ids) {
                if (j == n_ids || (i < x->n_doms && x->doms[i].domid < ids[j]))
                        removed[n_removed++] = x->doms[i++].domid;
                else if (i < x->n_doms && x->doms[i].domid == ids[j]) {
                        next[n_next++] = x->doms[i++];
                        j++;
                } else {
                        if (xenxs_read_name(x, ids[j], &next[n_next]))
                                added[n_added++] = next[n_next++];
                        j++;
                }
        }

        free(x->doms);
        x->doms = next;
        x->n_doms = n_next;
        next = NULL;
        if (n_added > 0 || n_removed > 0)
                x->changed(x, 0, added, n_added, removed, n_removed, x->userdata);
        r = 0;
finish:
        free(next);
        free(added);
        free(removed);
        free(ids);
        return r;
}

uint32_t xenxs_find_name(const Xenxs *x, const char *name) {
        for (size_t i = x->n_doms; i > 0; i--)
                if (strcmp(x->doms[i - 1].name, name) == 0)
                        return x->doms[i - 1].domid;
        return XENXS_NO_DOMID;
}

const char *xenxs_domain_name(const Xenxs *x, uint32_t domid) {
        for (size_t i = 0; i < x->n_doms; i++)
                if (x->doms[i].domid == domid)
                        return x->doms[i].name;
        return NULL;
}

size_t xenxs_count(const Xenxs *x) {
        return x->n_doms;
}
