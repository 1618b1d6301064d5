/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * libxentoolcore.so.1 for xensim: the registry of open Xen handles behind
 * xentoolcore_restrict_all(). Handles are kept newest first and restricted in that order;
 * the first failing callback stops the walk and its result is returned. It also keeps the
 * process's mappings of xensimd's shared memory for the other drop-in libraries.
 */
#include "autoconfig.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "xensim-client.h"
#include "xentoolcore-internal.h"

static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static Xentoolcore__Active_Handle *handles;

void xentoolcore__register_active_handle(Xentoolcore__Active_Handle *ah) {
        pthread_mutex_lock(&handles_lock);
        ah->entry.le_next = handles;
        if (handles)
                handles->entry.le_prev = &ah->entry.le_next;
        handles = ah;
        ah->entry.le_prev = &handles;
        pthread_mutex_unlock(&handles_lock);
}

void xentoolcore__deregister_active_handle(Xentoolcore__Active_Handle *ah) {
        pthread_mutex_lock(&handles_lock);
        if (ah->entry.le_next)
                ah->entry.le_next->entry.le_prev = ah->entry.le_prev;
        *ah->entry.le_prev = ah->entry.le_next;
        pthread_mutex_unlock(&handles_lock);
}

int xentoolcore_restrict_all(domid_t domid) {
        int r = 0;
        pthread_mutex_lock(&handles_lock);
        for (Xentoolcore__Active_Handle *ah = handles; ah; ah = ah->entry.le_next) {
                r = ah->restrict_callback(ah, domid);
                if (r)
                        break;
        }
        pthread_mutex_unlock(&handles_lock);
        return r;
}

int xentoolcore__restrict_by_dup2_null(int fd) {
        int nullfd;

        if (fd < 0)
                return 0;
        /* Neuter the fd in place: other threads may still use the number. */
        nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (nullfd < 0)
                return -1;
        if (dup2(nullfd, fd) < 0) {
                close(nullfd);
                return -1;
        }
        close(nullfd);
        return 0;
}

int xensim__host_get(int fd, struct xsc_host **ret) {
        return xsc_host_get(fd, ret);
}

void xensim__host_put(struct xsc_host *host) {
        xsc_host_put(host);
}
