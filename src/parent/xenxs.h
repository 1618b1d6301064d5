/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Thin wrapper of libxenstore: which domains exist (domid and name), kept
 * as a cache that each @introduceDomain or @releaseDomain brings up to date
 * with one listing of /local/domain and one read per new domain, never a
 * re-read of every name.  The owner hears what changed: the domains that
 * appeared, with their names, and the domids that went away.
 *
 * A domain's name is read once, when its domid first appears (xenstore has
 * it by the time @introduceDomain fires); a domain listed without a readable
 * name yet is tried again at the next event.  Xen hands out domids in
 * increasing order and wraps only after 32752 creations, so a domid that
 * vanished and came back between two events is not looked for.
 */
#ifndef XENIOREQD_XENXS_H
#define XENIOREQD_XENXS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ev.h>

#define XENXS_NAME_MAX 64u
#define XENXS_NO_DOMID UINT32_MAX

typedef struct XenxsDomain {
        uint32_t domid;
        char name[XENXS_NAME_MAX + 1];
} XenxsDomain;

typedef struct Xenxs Xenxs;

/*
 * error < 0: the cache could not be brought up to date (it is unchanged);
 * if xenxs_watching() is now false the connection to xenstored failed and no
 * more callbacks follow.  Otherwise the domains added (sorted by domid) and
 * the domids removed since the last call; the cache already reflects them.
 */
typedef void (*XenxsChangedFn)(Xenxs *x, int error, const XenxsDomain *added, size_t n_added,
                               const uint32_t *removed, size_t n_removed, void *userdata);

/* Connect (xs_open), watch @introduceDomain and @releaseDomain, start an ev_io.  The cache starts empty. */
int xenxs_new(Xenxs **ret, struct ev_loop *loop, XenxsChangedFn changed, void *userdata);
Xenxs *xenxs_free(Xenxs *x);

/* Bring the cache up to date now (the first call finds every domain); the callback hears the changes. */
int xenxs_refresh(Xenxs *x);

/* The domain with this name (the highest domid if several), or XENXS_NO_DOMID. */
uint32_t xenxs_find_name(const Xenxs *x, const char *name);

/* The name of a domain in the cache, or NULL. */
const char *xenxs_domain_name(const Xenxs *x, uint32_t domid);

/* Domains in the cache. */
size_t xenxs_count(const Xenxs *x);

/* Still following xenstore (the connection has not failed)? */
bool xenxs_watching(const Xenxs *x);

#endif
