/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cli: the option values the example programs share, and their signals.
 * The parsers return 0 with *ret set, or -EINVAL with *ret untouched; those
 * of --irq and --irq-mode also say why on stderr.
 */
#ifndef VIRTIO_EXAMPLE_CLI_H
#define VIRTIO_EXAMPLE_CLI_H

#include <stdint.h>

#include "xenioreqd-client.h"

/* the syntax cli_irq() takes, for usage and error messages */
#define CLI_IRQ_SYNTAX "line:GSI, isa:0..15, intx:DEV:PIN (PCI device 0..31 of bus 0, pin 0..3 = INTA..INTD) " \
                       "or evtchn:PORT"

/* an unsigned number, decimal, 0x hexadecimal or 0 octal; no sign, nothing after it */
int cli_u64(const char *s, uint64_t *ret);
/* seconds, 0 to 1e7, fractions allowed */
int cli_seconds(const char *s, double *ret);
/* --irq: an interrupt (action and its fields), see CLI_IRQ_SYNTAX; the mode is left as it is */
int cli_irq(const char *s, xenioreqd_irqfd_spec *ret);
/* --irq-mode: edge, level or raise: XIRQ_IRQFD_EDGE, _LEVEL or _RAISE */
int cli_irq_mode(const char *s, uint8_t *ret);
/* the two together: -EINVAL, said on stderr, for an event channel that is not an edge */
int cli_irq_check(const xenioreqd_irqfd_spec *irq);
/* the name of a mode cli_irq_mode() takes, "?" for others */
const char *cli_irq_mode_name(uint8_t mode);
/* SIGINT and SIGTERM blocked and delivered to a new signalfd (close-on-exec, non-blocking): its fd or -errno */
int cli_signalfd(void);

#endif
