/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"
#include "irqfd.h"
#include "xenioreqd/protocol.h"

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

struct Irqfd {
        IrqfdSet *set;
        IrqfdSpec spec;
        XenIrq line;                    /* LINE, ISA, INTX */
        uint32_t local_port;            /* EVTCHN */
        bool bound;
        bool raised;                    /* LEVEL: the line is up */
        int trigger_fd, resample_fd;
        LoopIo trigger, resample;
        IrqfdStats *stats;
        Irqfd *next;
};

static const char *irqfd_action_name(uint8_t action) {
        switch (action) {
        case XIRQ_IRQ_LINE:     return "interrupt";
        case XIRQ_IRQ_ISA:      return "ISA IRQ";
        case XIRQ_IRQ_INTX:     return "PCI INTx of device";
        case XIRQ_IRQ_MSI:      return "MSI";
        case XIRQ_IRQ_EVTCHN:   return "event channel";
        default:                return "?";
        }
}

static void irqfd_error(Irqfd *f, int error, const char *what) {
        IrqfdSet *set = f->set;
        bool first = f->stats->errors == 0;

        stats_add(&f->stats->errors, 1);
        stats_add(&set->stats->io.inject_errors, 1);
        /* the first error of each irqfd is always told; after that the rate limit applies */
        if (first)
                log_warning_errno(error, "Guest %s: irqfd %" PRIu32 " (%s %" PRIu32 "): %s failed: %m", set->name,
                                  f->spec.id, irqfd_action_name(f->spec.action), f->spec.irq, what);
        else
                log_ratelimit_errno(&set->log, LOG_WARNING, error, "Guest %s: irqfd %" PRIu32 ": %s failed: %m",
                                    set->name, f->spec.id, what);
}

static void irqfd_level(Irqfd *f, unsigned level) {
        int r = xen_server_set_irq(f->set->xen, &f->line, level);

        if (r < 0)
                irqfd_error(f, r, level ? "raising the line" : "lowering the line");
        else if (level)
                stats_add(&f->stats->injections, 1);
}

static void irqfd_inject(Irqfd *f) {
        int r;

        stats_add(&f->set->stats->io.injected, 1);
        switch (f->spec.action) {
        case XIRQ_IRQ_MSI:
                r = xen_server_inject_msi(f->set->xen, f->spec.msi_addr, f->spec.msi_data);
                if (r < 0)
                        irqfd_error(f, r, "injecting the MSI");
                else
                        stats_add(&f->stats->injections, 1);
                return;
        case XIRQ_IRQ_EVTCHN:
                r = xen_server_evtchn_notify(f->set->xen, f->local_port);
                if (r < 0)
                        irqfd_error(f, r, "notifying the event channel");
                else
                        stats_add(&f->stats->injections, 1);
                return;
        default:
                break;
        }
        switch (f->spec.mode) {
        case XIRQ_IRQFD_EDGE:
                irqfd_level(f, 1);
                irqfd_level(f, 0);
                break;
        case XIRQ_IRQFD_LEVEL:
                irqfd_level(f, 1);
                f->raised = true;
                break;
        default:
                irqfd_level(f, 1);
                break;
        }
}

/* Read an eventfd's whole counter: 0 when nothing was written. */
static uint64_t irqfd_drain(int fd) {
        uint64_t n = 0;

        if (read(fd, &n, sizeof(n)) != (ssize_t) sizeof(n))
                return 0;
        return n;
}

static void irqfd_trigger_cb(Loop *loop, LoopIo *w) {
        Irqfd *f = container_of(w, Irqfd, trigger);
        uint64_t n = irqfd_drain(f->trigger_fd);

        if (n == 0)
                return;
        stats_add(&f->stats->signals, n);
        irqfd_inject(f);
}

static void irqfd_resample_cb(Loop *loop, LoopIo *w) {
        Irqfd *f = container_of(w, Irqfd, resample);

        if (irqfd_drain(f->resample_fd) == 0)
                return;
        irqfd_level(f, 0);
        f->raised = false;
}

void irqfd_set_init(IrqfdSet *set, Loop *loop, XenServer *xen, GuestStats *stats, const char *name) {
        *set = (IrqfdSet) {
                .loop = loop,
                .xen = xen,
                .stats = stats,
                .name = name,
                .log = RATELIMIT_INIT(10 * 1000 * 1000, 10),
        };
}

static Irqfd *irqfd_find(IrqfdSet *set, uint32_t id, Irqfd ***ret_link) {
        for (Irqfd **l = &set->list; *l; l = &(*l)->next)
                if ((*l)->spec.id == id) {
                        if (ret_link)
                                *ret_link = l;
                        return *l;
                }
        return NULL;
}

/* Its counters: the entry it had (a restarted worker counts on), else a free one. */
static IrqfdStats *irqfd_stats_slot(GuestStats *stats, uint32_t id) {
        IrqfdStats *free_slot = NULL;

        for (unsigned i = 0; i < STATS_MAX_IRQFDS; i++) {
                if (stats->irqfds[i].id == id)
                        return &stats->irqfds[i];
                if (!free_slot && stats->irqfds[i].id == 0)
                        free_slot = &stats->irqfds[i];
        }
        if (free_slot)
                *free_slot = (IrqfdStats) { .id = id };
        return free_slot;
}

static void irqfd_free(IrqfdSet *set, Irqfd *f, bool lower);

int irqfd_add(IrqfdSet *set, const IrqfdSpec *spec, int *trigger, int *resample) {
        bool level = spec->mode == XIRQ_IRQFD_LEVEL;
        Irqfd *f;
        int r;

        if (spec->id == 0)
                return -EINVAL;
        if (irqfd_find(set, spec->id, NULL))
                return -EEXIST;
        if (set->n >= STATS_MAX_IRQFDS)
                return -ENOSPC;
        if (level && (!resample || *resample < 0))
                return -EBADF;
        r = fdio_take_eventfd(*trigger);
        if (r == 0 && level)
                r = fdio_take_eventfd(*resample);
        if (r < 0)
                return r;

        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->set = set;
        f->spec = *spec;
        f->resample_fd = -1;
        switch (spec->action) {
        case XIRQ_IRQ_LINE:
        case XIRQ_IRQ_ISA:
        case XIRQ_IRQ_INTX:
                f->line = (XenIrq) {
                        .kind = spec->action == XIRQ_IRQ_LINE ? XEN_IRQ_LINE :
                                spec->action == XIRQ_IRQ_ISA ? XEN_IRQ_ISA : XEN_IRQ_INTX,
                        .irq = spec->irq,
                        .segment = spec->segment,
                        .bus = spec->bus,
                        .device = spec->device,
                        .pin = spec->pin,
                };
                break;
        case XIRQ_IRQ_MSI:
                break;
        case XIRQ_IRQ_EVTCHN:
                r = xen_server_evtchn_bind(set->xen, spec->irq, &f->local_port);
                if (r < 0) {
                        free(f);
                        return r;
                }
                f->bound = true;
                break;
        default:
                free(f);
                return -EINVAL;
        }
        f->stats = irqfd_stats_slot(set->stats, spec->id);
        if (!f->stats) {
                if (f->bound)
                        xen_server_evtchn_unbind(set->xen, f->local_port);
                free(f);
                return -ENOSPC;
        }

        f->trigger_fd = *trigger;
        *trigger = -1;
        loop_io_init(&f->trigger, irqfd_trigger_cb, f->trigger_fd);
        if (level) {
                f->resample_fd = *resample;
                *resample = -1;
        }
        loop_io_init(&f->resample, irqfd_resample_cb, f->resample_fd);
        r = loop_io_start(set->loop, &f->trigger);
        if (r == 0 && level)
                r = loop_io_start(set->loop, &f->resample);
        if (r < 0) {
                /* its counters' entry is free again, the descriptors taken are closed */
                f->stats->id = 0;
                irqfd_free(set, f, false);
                return r;
        }
        f->next = set->list;
        set->list = f;
        set->n++;
        return 0;
}

static void irqfd_free(IrqfdSet *set, Irqfd *f, bool lower) {
        loop_io_stop(set->loop, &f->trigger);
        close(f->trigger_fd);
        if (f->resample_fd >= 0) {
                loop_io_stop(set->loop, &f->resample);
                close(f->resample_fd);
        }
        /* a line left up by a backend that goes would stay up for good */
        if (lower && f->raised)
                irqfd_level(f, 0);
        if (f->bound)
                xen_server_evtchn_unbind(set->xen, f->local_port);
        free(f);
}

int irqfd_del(IrqfdSet *set, uint32_t id) {
        Irqfd **link = NULL, *f = irqfd_find(set, id, &link);

        if (!f)
                return -ENOENT;
        *link = f->next;
        set->n--;
        /* its counters' entry is free again */
        f->stats->id = 0;
        irqfd_free(set, f, true);
        return 0;
}

void irqfd_clear(IrqfdSet *set) {
        while (set->list) {
                Irqfd *f = set->list;

                set->list = f->next;
                irqfd_free(set, f, false);
        }
        set->n = 0;
}
