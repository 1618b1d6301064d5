/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * host-xs.c - xensimd as a toolstack towards xenstored, through the real libxenstore: what
 * libxl writes when it creates a PVH domain, in its transactions and in the order FACTS 9b
 * observed (the domain's nodes, the build's nodes, the introduction, the console device), and
 * what it removes when the domain goes (the console device, then the domain's nodes, FACTS 9f)
 * before the release.
 *
 * Each group of writes is one transaction, as libxl does: xenstored fires one watch event per
 * changed node at commit, so a node written and given its permissions fires once.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xenstore.h>

#include "host-internal.h"

#define TX_TRIES 16             /* commits refused with EAGAIN before giving up */

/* One transaction being filled: the first failure stops the rest and aborts it. */
struct tx {
        struct xs_handle *xs;
        xs_transaction_t t;
        int err;
        char path[192];
};

/* The path for the next operation, in x's buffer; NULL (and x failed) if it does not fit. */
static const char *__attribute__((format(printf, 2, 3)))
tx_path(struct tx *x, const char *fmt, ...) {
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(x->path, sizeof(x->path), fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= sizeof(x->path)) {
                x->err = x->err ? x->err : -ENAMETOOLONG;
                return NULL;
        }
        return x->path;
}

/* Write val at path, then give it perms (nperms 0: it keeps the inherited ones). */
static void tx_write(struct tx *x, const char *path, const char *val,
                     const struct xs_permissions *perms, unsigned nperms) {
        if (x->err || !path)
                return;
        if (!xs_write(x->xs, x->t, path, val, strlen(val)) ||
            (nperms && !xs_set_permissions(x->xs, x->t, path, (struct xs_permissions *)perms,
                                           nperms)))
                x->err = -errno;
}

/* Create the directory and give it perms. */
static void tx_mkdir(struct tx *x, const char *path, const struct xs_permissions *perms,
                     unsigned nperms) {
        if (x->err || !path)
                return;
        if (!xs_mkdir(x->xs, x->t, path) ||
            !xs_set_permissions(x->xs, x->t, path, (struct xs_permissions *)perms, nperms))
                x->err = -errno;
}

/* Remove the subtree; a missing one is fine, as libxl ignores that. */
static void tx_rm(struct tx *x, const char *path) {
        if (x->err || !path)
                return;
        if (!xs_rm(x->xs, x->t, path) && errno != ENOENT)
                x->err = -errno;
}

/*
 * Remove the subtree, then each parent left empty, up to (not including) keep, as libxl's
 * libxl__xs_path_cleanup() does for a device's paths.
 */
static void tx_rm_cleanup(struct tx *x, const char *path, const char *keep) {
        char p[sizeof(x->path)];
        size_t klen = strlen(keep);

        if (x->err)
                return;
        snprintf(p, sizeof(p), "%s", path);
        tx_rm(x, p);
        for (char *slash = strrchr(p, '/'); !x->err && slash && (size_t)(slash - p) > klen;
             slash = strrchr(p, '/')) {
                unsigned num = 0;
                char **ents;

                *slash = '\0';
                ents = xs_directory(x->xs, x->t, p, &num);
                if (!ents)
                        break;
                free(ents);
                if (num)
                        break;
                tx_rm(x, p);
        }
}

/* Run fill in a transaction until it commits: 0 or a negative errno. */
static int tx_run(struct xs_handle *xs, void (*fill)(struct tx *x, const void *arg),
                  const void *arg) {
        for (unsigned i = 0; i < TX_TRIES; i++) {
                struct tx x = { .xs = xs };

                x.t = xs_transaction_start(xs);
                if (x.t == XBT_NULL)
                        return -errno;
                fill(&x, arg);
                if (x.err) {
                        xs_transaction_end(xs, x.t, true);
                        return x.err;
                }
                if (xs_transaction_end(xs, x.t, false))
                        return 0;
                if (errno != EAGAIN)
                        return -errno;
        }
        return -EAGAIN;
}

struct dom {
        uint32_t domid;
        const char *name;
        unsigned nr_vcpus;
        char uuid[40];
        char path[32];          /* /local/domain/N */
        struct xs_permissions ro[2], rw[1], fe[2], be[2], no[1];
};

static void dom_init(struct dom *d, uint32_t domid, const char *name, unsigned nr_vcpus) {
        memset(d, 0, sizeof(*d));
        d->domid = domid;
        d->name = name;
        d->nr_vcpus = nr_vcpus;
        snprintf(d->uuid, sizeof(d->uuid), "5e5e0000-0000-4000-8000-%012x", domid);
        snprintf(d->path, sizeof(d->path), "/local/domain/%u", domid);
        /* Read-only for the guest (n0,r1), the guest's own (n1), the console's backend-id
         * (n1,r0), the console's backend in dom0 (n0,r1), libxl's own (n0). */
        d->ro[0] = (struct xs_permissions){ .id = 0, .perms = XS_PERM_NONE };
        d->ro[1] = (struct xs_permissions){ .id = domid, .perms = XS_PERM_READ };
        d->rw[0] = (struct xs_permissions){ .id = domid, .perms = XS_PERM_NONE };
        d->fe[0] = (struct xs_permissions){ .id = domid, .perms = XS_PERM_NONE };
        d->fe[1] = (struct xs_permissions){ .id = 0, .perms = XS_PERM_READ };
        d->be[0] = (struct xs_permissions){ .id = 0, .perms = XS_PERM_NONE };
        d->be[1] = (struct xs_permissions){ .id = domid, .perms = XS_PERM_READ };
        d->no[0] = (struct xs_permissions){ .id = 0, .perms = XS_PERM_NONE };
}

/* libxl__domain_make(): the domain's directories and its identity. */
static void fill_make(struct tx *x, const void *arg) {
        static const char *const guest_dirs[] = { "device", "control", "data", "drivers",
                                                  "feature", "attr", "error" };
        static const char *const control_keys[] = { "shutdown", "feature-poweroff",
                                                    "feature-reboot", "feature-suspend",
                                                    "sysrq" };
        const struct dom *d = arg;
        char vm[64];

        snprintf(vm, sizeof(vm), "/vm/%s", d->uuid);
        tx_rm(x, d->path);
        tx_write(x, d->path, "", d->ro, 2);
        tx_rm(x, vm);
        tx_write(x, vm, "", d->ro, 2);
        tx_rm(x, tx_path(x, "/libxl/%u", d->domid));
        tx_write(x, tx_path(x, "/libxl/%u", d->domid), "", d->no, 1);
        tx_write(x, tx_path(x, "%s/vm", d->path), vm, d->ro, 2);
        tx_write(x, tx_path(x, "%s/name", d->path), d->name, d->ro, 2);
        tx_write(x, tx_path(x, "%s/name", vm), d->name, d->ro, 2);
        tx_write(x, tx_path(x, "%s/uuid", vm), d->uuid, d->ro, 2);
        tx_write(x, tx_path(x, "%s/cpu", d->path), "", d->ro, 2);
        tx_write(x, tx_path(x, "%s/memory", d->path), "", d->ro, 2);
        for (size_t i = 0; i < sizeof(guest_dirs) / sizeof(guest_dirs[0]); i++)
                tx_write(x, tx_path(x, "%s/%s", d->path, guest_dirs[i]), "", d->rw, 1);
        tx_write(x, tx_path(x, "%s/device/suspend/event-channel", d->path), "", d->rw, 1);
        for (size_t i = 0; i < sizeof(control_keys) / sizeof(control_keys[0]); i++)
                tx_write(x, tx_path(x, "%s/control/%s", d->path, control_keys[i]), "", d->rw, 1);
        tx_write(x, tx_path(x, "%s/control/platform-feature-multiprocessor-suspend", d->path),
                 "1", d->ro, 2);
        tx_write(x, tx_path(x, "%s/control/platform-feature-xs_reset_watches", d->path),
                 "1", d->ro, 2);
        tx_write(x, tx_path(x, "/libxl/%u/type", d->domid), "pvh", NULL, 0);
        tx_write(x, tx_path(x, "/libxl/%u/dm-version", d->domid), "qemu_xen", NULL, 0);
}

/* libxl__build_post(): memory, domid, the xenstore ring, the vCPUs; then the introduction. */
static void fill_build(struct tx *x, const void *arg) {
        const struct dom *d = arg;
        char v[16];

        tx_write(x, tx_path(x, "%s/memory/static-max", d->path), "131072", d->ro, 2);
        tx_write(x, tx_path(x, "%s/memory/target", d->path), "131072", d->ro, 2);
        tx_write(x, tx_path(x, "%s/memory/videoram", d->path), "0", d->ro, 2);
        snprintf(v, sizeof(v), "%u", d->domid);
        tx_write(x, tx_path(x, "%s/domid", d->path), v, d->ro, 2);
        tx_write(x, tx_path(x, "%s/store/port", d->path), "1", d->ro, 2);
        tx_write(x, tx_path(x, "%s/store/ring-ref", d->path), "1044476", d->ro, 2);
        for (unsigned c = 0; c < d->nr_vcpus; c++)
                tx_write(x, tx_path(x, "%s/cpu/%u/availability", d->path, c), "online", d->ro, 2);
        tx_write(x, tx_path(x, "/vm/%s/start_time", d->uuid), "0", d->ro, 2);
}

/*
 * libxl__device_console_add() for console 0 through libxl__device_generic_add(): libxl's own
 * record of the device, the frontend (the guest's console/ directory, read-only for it but
 * for backend-id), the backend in dom0, and the backend's keys copied to libxl's record.
 * console/tty stays empty: there is no xenconsoled to fill it in.
 */
static void fill_console(struct tx *x, const void *arg) {
        static const char *const back[][2] = { { "frontend-id", NULL }, { "online", "1" },
                                               { "state", "1" }, { "protocol", "vt100" } };
        const struct dom *d = arg;
        char fe[64], be[64], lx[64], id[16];

        snprintf(fe, sizeof(fe), "%s/console", d->path);
        snprintf(be, sizeof(be), "/local/domain/0/backend/console/%u/0", d->domid);
        snprintf(lx, sizeof(lx), "/libxl/%u/device/console/0", d->domid);
        snprintf(id, sizeof(id), "%u", d->domid);
        tx_rm(x, lx);
        tx_write(x, tx_path(x, "%s/frontend", lx), fe, NULL, 0);
        tx_write(x, tx_path(x, "%s/backend", lx), be, NULL, 0);
        tx_rm(x, fe);
        tx_mkdir(x, fe, d->ro, 2);
        tx_write(x, tx_path(x, "%s/backend", fe), be, NULL, 0);
        tx_write(x, tx_path(x, "%s/backend-id", fe), "0", d->fe, 2);
        tx_write(x, tx_path(x, "%s/limit", fe), "1048576", d->ro, 2);
        tx_write(x, tx_path(x, "%s/type", fe), "xenconsoled", d->ro, 2);
        tx_write(x, tx_path(x, "%s/output", fe), "pty", d->ro, 2);
        tx_write(x, tx_path(x, "%s/tty", fe), "", d->ro, 2);
        tx_write(x, tx_path(x, "%s/port", fe), "2", d->ro, 2);
        tx_write(x, tx_path(x, "%s/ring-ref", fe), "1044479", d->ro, 2);
        tx_rm(x, be);
        tx_mkdir(x, be, d->be, 2);
        tx_write(x, tx_path(x, "%s/frontend", be), fe, NULL, 0);
        for (size_t i = 0; i < sizeof(back) / sizeof(back[0]); i++)
                tx_write(x, tx_path(x, "%s/%s", be, back[i][0]),
                         back[i][1] ? back[i][1] : id, NULL, 0);
        for (size_t i = 0; i < sizeof(back) / sizeof(back[0]); i++)
                tx_write(x, tx_path(x, "%s/%s", lx, back[i][0]),
                         back[i][1] ? back[i][1] : id, NULL, 0);
}

/* libxl__device_destroy() of the console: its frontend, backend and record, and empty parents. */
static void fill_console_remove(struct tx *x, const void *arg) {
        const struct dom *d = arg;
        char p[64];

        tx_rm(x, tx_path(x, "%s/console", d->path));
        snprintf(p, sizeof(p), "/local/domain/0/backend/console/%u/0", d->domid);
        tx_rm_cleanup(x, p, "/local/domain/0");
        snprintf(p, sizeof(p), "/libxl/%u/device/console/0", d->domid);
        tx_rm_cleanup(x, p, "/libxl");
}

/* The domain's own paths, as libxl removes them once the domain is destroyed. */
static void fill_remove(struct tx *x, const void *arg) {
        const struct dom *d = arg;

        tx_rm(x, d->path);
        tx_rm(x, tx_path(x, "/libxl/%u", d->domid));
        tx_rm(x, tx_path(x, "/vm/%s", d->uuid));
}

int host_xs_domain_create(struct xs_handle *xs, uint32_t domid, const char *name,
                          unsigned nr_vcpus) {
        struct dom d;
        int r;

        dom_init(&d, domid, name, nr_vcpus);
        r = tx_run(xs, fill_make, &d);
        if (r == 0)
                r = tx_run(xs, fill_build, &d);
        if (r == 0 && !xs_introduce_domain(xs, domid, 1044476, 1))
                r = -errno;
        if (r == 0)
                r = tx_run(xs, fill_console, &d);
        return r;
}

int host_xs_domain_destroy(struct xs_handle *xs, uint32_t domid) {
        struct dom d;
        int r, r2;

        dom_init(&d, domid, "", 0);
        r = tx_run(xs, fill_console_remove, &d);
        r2 = tx_run(xs, fill_remove, &d);
        if (!r)
                r = r2;
        if (!xs_release_domain(xs, domid) && !r)
                r = -errno;
        return r;
}

/*
 * A crash or a poweroff shuts the domain down: real xenstored learns it from VIRQ_DOM_EXC and
 * fires @releaseDomain while the domain stays introduced. xensim-xenstored takes that event
 * as the control command "xensim-domain <domid> shutdown".
 */
int host_xs_domain_shutdown(struct xs_handle *xs, uint32_t domid) {
        char body[32];
        int n = snprintf(body, sizeof(body), "%u%cshutdown", domid, 0);
        char *rep = xs_control_command(xs, "xensim-domain", body, (unsigned)n + 1);
        if (!rep)
                return -errno;
        free(rep);
        return 0;
}

int host_xs_dom0(struct xs_handle *xs) {
        if (!xs_write(xs, XBT_NULL, "/local/domain/0/name", "Domain-0", 8) ||
            !xs_write(xs, XBT_NULL, "/local/domain/0/domid", "0", 1))
                return -errno;
        return 0;
}
