/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xentoolcore-internal.h - the registration interface between Xen's tool libraries and
 * libxentoolcore. libxentoolcore_internal.h is not installed by libxen-dev, but the real
 * libxenstore.so.4 calls these functions with this exact structure layout (a restrict callback
 * followed by a BSD LIST_ENTRY), so xensim's libxentoolcore must accept it.
 */
#ifndef XENSIM_XENTOOLCORE_INTERNAL_H
#define XENSIM_XENTOOLCORE_INTERNAL_H

#include <xentoolcore.h>

typedef struct Xentoolcore__Active_Handle Xentoolcore__Active_Handle;
typedef int Xentoolcore__Restrict_Callback(Xentoolcore__Active_Handle *, domid_t domid);

struct Xentoolcore__Active_Handle {
        Xentoolcore__Restrict_Callback *restrict_callback;
        struct {
                Xentoolcore__Active_Handle *le_next;
                Xentoolcore__Active_Handle **le_prev;
        } entry;
};

void xentoolcore__register_active_handle(Xentoolcore__Active_Handle *ah);
void xentoolcore__deregister_active_handle(Xentoolcore__Active_Handle *ah);
int xentoolcore__restrict_by_dup2_null(int fd);

/*
 * xensim only (symbol version XENSIM_PRIVATE of its libxentoolcore.so.1): the process's
 * mappings of xensimd's shm (xsc_host_get/put of xensim-client.h), kept here so that the
 * evtchn and foreignmemory libraries of one process share one mapping per host.
 */
struct xsc_host;
int xensim__host_get(int fd, struct xsc_host **ret);
void xensim__host_put(struct xsc_host *host);

#endif
