/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * host-xs.c - xensimd as a toolstack towards xenstored, through the real libxenstore: the
 * entries libxl writes when it creates a PVH domain (in the order FACTS 9b observed), the
 * introduction, and the removal plus release on destruction.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xenstore.h>

#include "host.h"

static int xwrite(struct xs_handle *xs, const char *path, const char *val,
                  const struct xs_permissions *perms, unsigned nperms) {
        if (!xs_write(xs, XBT_NULL, path, val, strlen(val)))
                return -errno;
        if (perms && !xs_set_permissions(xs, XBT_NULL, path, (struct xs_permissions *)perms,
                                         nperms))
                return -errno;
        return 0;
}

static void uuid_of(uint32_t domid, char *buf, size_t len) {
        snprintf(buf, len, "5e5e0000-0000-4000-8000-%012x", domid);
}

int host_xs_domain_create(struct xs_handle *xs, uint32_t domid, const char *name,
                          unsigned nr_vcpus) {
        struct xs_permissions ro[2] = { { .id = 0, .perms = XS_PERM_NONE },
                                        { .id = domid, .perms = XS_PERM_READ } };
        struct xs_permissions rw[1] = { { .id = domid, .perms = XS_PERM_NONE } };
        struct xs_permissions con[2] = { { .id = domid, .perms = XS_PERM_NONE },
                                         { .id = 0, .perms = XS_PERM_READ } };
        static const char *const guest_dirs[] = { "device", "control", "data", "drivers",
                                                  "feature", "attr", "error" };
        static const char *const control_keys[] = { "shutdown", "feature-poweroff",
                                                    "feature-reboot", "feature-suspend",
                                                    "sysrq" };
        char dom[64], p[160], v[128], uuid[40];
        int r = 0;

        uuid_of(domid, uuid, sizeof(uuid));
        snprintf(dom, sizeof(dom), "/local/domain/%u", domid);

#define W(path_fmt, val, perms, n, ...)                                              \
        do {                                                                         \
                snprintf(p, sizeof(p), path_fmt, __VA_ARGS__);                       \
                r = xwrite(xs, p, val, perms, n);                                    \
                if (r < 0)                                                           \
                        return r;                                                    \
        } while (0)

        W("%s", "", ro, 2, dom);
        snprintf(v, sizeof(v), "/vm/%s", uuid);
        W("%s/vm", v, ro, 2, dom);
        W("%s/name", name, ro, 2, dom);
        W("%s/cpu", "", ro, 2, dom);
        W("%s/memory", "", ro, 2, dom);
        for (size_t i = 0; i < sizeof(guest_dirs) / sizeof(guest_dirs[0]); i++)
                W("%s/%s", "", rw, 1, dom, guest_dirs[i]);
        W("%s/device/suspend/event-channel", "", rw, 1, dom);
        for (size_t i = 0; i < sizeof(control_keys) / sizeof(control_keys[0]); i++)
                W("%s/control/%s", "", rw, 1, dom, control_keys[i]);
        W("%s/control/platform-feature-multiprocessor-suspend", "1", ro, 2, dom);
        W("%s/control/platform-feature-xs_reset_watches", "1", ro, 2, dom);
        W("%s/memory/static-max", "131072", ro, 2, dom);
        W("%s/memory/target", "131072", ro, 2, dom);
        W("%s/memory/videoram", "0", ro, 2, dom);
        snprintf(v, sizeof(v), "%u", domid);
        W("%s/domid", v, ro, 2, dom);
        W("%s/store/port", "1", ro, 2, dom);
        W("%s/store/ring-ref", "1044476", ro, 2, dom);
        for (unsigned c = 0; c < nr_vcpus; c++)
                W("%s/cpu/%u/availability", "online", ro, 2, dom, c);
        W("/vm/%s/name", name, ro, 2, uuid);
        W("/vm/%s/uuid", uuid, ro, 2, uuid);
        W("/vm/%s/start_time", "0", ro, 2, uuid);
        W("/libxl/%u/type", "pvh", NULL, 0, domid);
        W("/libxl/%u/dm-version", "qemu_xen", NULL, 0, domid);

        if (!xs_introduce_domain(xs, domid, 1044476, 1))
                return -errno;

        snprintf(v, sizeof(v), "/local/domain/0/backend/console/%u/0", domid);
        W("%s/console/backend", v, ro, 2, dom);
        W("%s/console/backend-id", "0", con, 2, dom);
        W("%s/console/limit", "1048576", ro, 2, dom);
        W("%s/console/type", "xenconsoled", ro, 2, dom);
        W("%s/console/output", "pty", ro, 2, dom);
        W("%s/console/port", "2", ro, 2, dom);
        W("%s/console/ring-ref", "1044479", ro, 2, dom);
#undef W
        return 0;
}

int host_xs_domain_destroy(struct xs_handle *xs, uint32_t domid) {
        char p[96], uuid[40];
        int r = 0;

        uuid_of(domid, uuid, sizeof(uuid));
        snprintf(p, sizeof(p), "/local/domain/%u", domid);
        if (!xs_rm(xs, XBT_NULL, p) && errno != ENOENT)
                r = -errno;
        snprintf(p, sizeof(p), "/libxl/%u", domid);
        if (!xs_rm(xs, XBT_NULL, p) && errno != ENOENT && !r)
                r = -errno;
        snprintf(p, sizeof(p), "/vm/%s", uuid);
        if (!xs_rm(xs, XBT_NULL, p) && errno != ENOENT && !r)
                r = -errno;
        if (!xs_release_domain(xs, domid) && !r)
                r = -errno;
        return r;
}

/*
 * A crash shuts the domain down: real xenstored learns it from VIRQ_DOM_EXC and fires
 * @releaseDomain while the domain stays introduced. xensim-xenstored takes that event as the
 * control command "xensim-domain <domid> shutdown".
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
        int r = xwrite(xs, "/local/domain/0/name", "Domain-0", NULL, 0);
        if (r < 0)
                return r;
        return xwrite(xs, "/local/domain/0/domid", "0", NULL, 0);
}
