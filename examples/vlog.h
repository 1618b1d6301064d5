/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vlog: debug lines about what the guest did wrong (a bad register access,
 * a malformed request).  A guest can trigger them at will, so they are off
 * unless vlog_set_debug(true), and even then at most VLOG_BURST lines per
 * VLOG_INTERVAL_SEC seconds reach stderr; the rest are counted and the count
 * is reported with the next line let through.  One device per process: the
 * state is global and not thread-safe.
 */
#ifndef VIRTIO_EXAMPLE_VLOG_H
#define VIRTIO_EXAMPLE_VLOG_H

#include <stdbool.h>

#define VLOG_BURST 20u
#define VLOG_INTERVAL_SEC 5

void vlog_set_debug(bool on);
void vlog_debug(const char *format, ...) __attribute__((format(printf, 1, 2)));

#endif
