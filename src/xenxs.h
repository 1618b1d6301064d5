/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Thin wrapper of libxenstore: the domains that exist (domid and name) and
 * a callback whenever @introduceDomain or @releaseDomain fires.  The caller
 * rescans on each callback: a domain that reboots comes back with a new domid
 * and the same name.
 */
#ifndef XENIOREQD_XENXS_H
#define XENIOREQD_XENXS_H

#include <stddef.h>
#include <stdint.h>
#include <ev.h>

#define XENXS_NAME_MAX 64u

typedef struct XenxsDomain {
        uint32_t domid;
        char name[XENXS_NAME_MAX + 1];
} XenxsDomain;

typedef struct Xenxs Xenxs;
/* error < 0: the connection to xenstored failed; no more callbacks follow */
typedef void (*XenxsChangedFn)(Xenxs *x, int error, void *userdata);

/* Connect (xs_open), watch @introduceDomain and @releaseDomain, start an ev_io. */
int xenxs_new(Xenxs **ret, struct ev_loop *loop, XenxsChangedFn changed, void *userdata);
Xenxs *xenxs_free(Xenxs *x);

/*
 * Every domain under /local/domain with a readable name of at most
 * XENXS_NAME_MAX bytes, sorted by domid.  Domains without a name yet, or
 * with an unusable one, are left out.  *ret is malloc'ed.
 */
int xenxs_list_domains(Xenxs *x, XenxsDomain **ret, size_t *ret_n);

#endif
