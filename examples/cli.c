/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>

#include "cli.h"

static const char *const irq_mode_names[] = {
        [XIRQ_IRQFD_EDGE] = "edge",
        [XIRQ_IRQFD_LEVEL] = "level",
        [XIRQ_IRQFD_RAISE] = "raise",
};

int cli_u64(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (!*s || *s == '-' || *s == '+' || *s == ' ')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int cli_seconds(const char *s, double *ret) {
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || *end || !(v >= 0) || v > 1e7)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* "N" or, with two, "N:M", each a cli_u64() no larger than its max */
static int parse_fields(const char *s, unsigned n, const uint64_t *max, uint64_t *v) {
        for (unsigned i = 0; i < n; i++) {
                char tok[24];
                size_t len = strcspn(s, ":");

                if (len == 0 || len >= sizeof(tok) || (i + 1 < n) != (s[len] == ':'))
                        return -EINVAL;
                memcpy(tok, s, len);
                tok[len] = '\0';
                if (cli_u64(tok, &v[i]) < 0 || v[i] > max[i])
                        return -EINVAL;
                s += len + (i + 1 < n);
        }
        return 0;
}

int cli_irq(const char *s, xenioreqd_irqfd_spec *ret) {
        static const struct {
                const char *prefix;
                uint8_t action;
                unsigned fields;
                uint64_t max[2];
        } kinds[] = {
                { "line:", XIRQ_IRQ_LINE, 1, { 1019 } },
                { "isa:", XIRQ_IRQ_ISA, 1, { 15 } },
                { "intx:", XIRQ_IRQ_INTX, 2, { 31, 3 } },
                { "evtchn:", XIRQ_IRQ_EVTCHN, 1, { (1u << 17) - 1 } },
        };
        uint64_t v[2];

        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
                size_t plen = strlen(kinds[i].prefix);

                if (strncmp(s, kinds[i].prefix, plen) != 0)
                        continue;
                if (parse_fields(s + plen, kinds[i].fields, kinds[i].max, v) < 0)
                        break;
                *ret = (xenioreqd_irqfd_spec) { .action = kinds[i].action, .mode = ret->mode };
                if (kinds[i].action == XIRQ_IRQ_INTX) {
                        ret->device = (uint8_t) v[0];
                        ret->pin = (uint8_t) v[1];
                } else {
                        ret->irq = (uint32_t) v[0];
                }
                return 0;
        }
        fprintf(stderr, "Invalid --irq: %s (" CLI_IRQ_SYNTAX ")\n", s);
        return -EINVAL;
}

int cli_irq_mode(const char *s, uint8_t *ret) {
        for (uint8_t i = XIRQ_IRQFD_EDGE; i <= XIRQ_IRQFD_RAISE; i++)
                if (strcmp(s, irq_mode_names[i]) == 0) {
                        *ret = i;
                        return 0;
                }
        fprintf(stderr, "Invalid --irq-mode: %s (edge, level, raise)\n", s);
        return -EINVAL;
}

int cli_irq_check(const xenioreqd_irqfd_spec *irq) {
        if (irq->action == XIRQ_IRQ_EVTCHN && irq->mode != XIRQ_IRQFD_EDGE) {
                fprintf(stderr, "An event channel is an edge: --irq-mode edge\n");
                return -EINVAL;
        }
        return 0;
}

const char *cli_irq_mode_name(uint8_t mode) {
        return mode >= XIRQ_IRQFD_EDGE && mode <= XIRQ_IRQFD_RAISE ? irq_mode_names[mode] : "?";
}

int cli_signalfd(void) {
        sigset_t mask;
        int fd;

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        return fd < 0 ? -errno : fd;
}
