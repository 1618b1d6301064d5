/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What xen-ioreqctl prints: text for people, JSON with the field names of
 * xen-ioreqctl(8) for scripts, the Prometheus text format for scrapers.
 * Guest names come from the daemon's configuration: they are escaped all
 * the same (quoted in JSON and label values, non-printable bytes as \xNN in
 * text).
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "stats.h"
#include "xenioreqd/protocol.h"

_Static_assert(CTL_HIST_BUCKETS == STATS_HIST_BUCKETS, "the wire carries the memfd's buckets");

/* Prometheus buckets: every power of two from 256 ns to 2^34 ns (17 s), all bucket boundaries. */
#define METRICS_LE_MIN_SHIFT    8u
#define METRICS_LE_MAX_SHIFT    34u

static const char *state_name(uint32_t state) {
        switch (state) {
        case XIRQ_GUEST_ABSENT:  return "absent";
        case XIRQ_GUEST_RUNNING: return "running";
        case XIRQ_GUEST_SERVING: return "serving";
        case XIRQ_GUEST_FAILED:  return "failed";
        default:                 return "unknown";
        }
}

static const char *space_name(uint8_t space) {
        return space == XIRQ_SPACE_PIO ? "pio" : space == XIRQ_SPACE_MMIO ? "mmio" : "unknown";
}

static const char *match_name(uint8_t match) {
        switch (match) {
        case XIRQ_MATCH_ANY:   return "any";
        case XIRQ_MATCH_EXACT: return "exact";
        case XIRQ_MATCH_MASK:  return "mask";
        default:               return "unknown";
        }
}

static const char *action_name(uint8_t action) {
        switch (action) {
        case XIRQ_IRQ_LINE:   return "line";
        case XIRQ_IRQ_ISA:    return "isa";
        case XIRQ_IRQ_INTX:   return "intx";
        case XIRQ_IRQ_MSI:    return "msi";
        case XIRQ_IRQ_EVTCHN: return "evtchn";
        default:              return "unknown";
        }
}

static const char *mode_name(uint8_t mode) {
        switch (mode) {
        case XIRQ_IRQFD_EDGE:  return "edge";
        case XIRQ_IRQFD_LEVEL: return "level";
        case XIRQ_IRQFD_RAISE: return "raise";
        default:               return "unknown";
        }
}

/* ---- escaping ---- */

static void json_string(FILE *f, const char *s) {
        fputc('"', f);
        for (; *s; s++) {
                unsigned char ch = (unsigned char) *s;

                if (ch == '"' || ch == '\\')
                        fprintf(f, "\\%c", ch);
                else if (ch < 0x20 || ch >= 0x7f)
                        fprintf(f, "\\u%04x", ch);
                else
                        fputc(ch, f);
        }
        fputc('"', f);
}

static void json_u32_or_null(FILE *f, uint32_t v) {
        if (v == CTL_NONE)
                fputs("null", f);
        else
                fprintf(f, "%" PRIu32, v);
}

/* printable ASCII as is, the rest as \xNN, into buf */
static const char *text_escape(const char *s, char *buf, size_t size) {
        size_t n = 0;

        for (; *s && n + 5 < size; s++) {
                unsigned char ch = (unsigned char) *s;

                if (ch < 0x20 || ch >= 0x7f || ch == '\\')
                        n += (size_t) snprintf(buf + n, size - n, "\\x%02x", ch);
                else
                        buf[n++] = (char) ch;
        }
        buf[n] = '\0';
        return buf;
}

/* a Prometheus label value: backslash, double quote and newline escaped */
static void prom_label(FILE *f, const char *s) {
        fputc('"', f);
        for (; *s; s++) {
                if (*s == '\\' || *s == '"')
                        fprintf(f, "\\%c", *s);
                else if (*s == '\n')
                        fputs("\\n", f);
                else
                        fputc(*s, f);
        }
        fputc('"', f);
}

/* ---- histograms ---- */

uint64_t ctl_hist_quantile(const CtlHist *h, double q) {
        uint64_t total = 0, want, seen = 0;

        for (unsigned i = 0; i < CTL_HIST_BUCKETS; i++)
                total += h->buckets[i];
        if (total == 0)
                return 0;
        want = (uint64_t) (q * (double) total);
        if ((double) want < q * (double) total)
                want++;
        if (want == 0)
                want = 1;
        for (unsigned i = 0; i < CTL_HIST_BUCKETS; i++) {
                seen += h->buckets[i];
                if (seen >= want)
                        return stats_hist_lower(i + 1);
        }
        return stats_hist_lower(CTL_HIST_BUCKETS);
}

static void fmt_ns(char *buf, size_t size, uint64_t ns) {
        if (ns < 10000)
                snprintf(buf, size, "%" PRIu64 " ns", ns);
        else if (ns < UINT64_C(10000000))
                snprintf(buf, size, "%.1f us", (double) ns / 1e3);
        else if (ns < UINT64_C(10000000000))
                snprintf(buf, size, "%.1f ms", (double) ns / 1e6);
        else
                snprintf(buf, size, "%.1f s", (double) ns / 1e9);
}

static void fmt_duration(char *buf, size_t size, uint64_t s) {
        if (s >= 86400)
                snprintf(buf, size, "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m", s / 86400, s % 86400 / 3600, s % 3600 / 60);
        else if (s >= 3600)
                snprintf(buf, size, "%" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", s / 3600, s % 3600 / 60, s % 60);
        else if (s >= 60)
                snprintf(buf, size, "%" PRIu64 "m %" PRIu64 "s", s / 60, s % 60);
        else
                snprintf(buf, size, "%" PRIu64 "s", s);
}

static uint64_t uptime_s(const CtlStatus *st) {
        return st->now_ns > st->started_ns ? (st->now_ns - st->started_ns) / UINT64_C(1000000000) : 0;
}

/* ---- status ---- */

int ctl_print_status(Ctl *c, FILE *f, bool json) {
        CtlStatus st;
        char up[64];
        int r;

        r = ctl_status(c, &st);
        if (r < 0)
                return r;
        if (json) {
                fputs("{\"version\":", f);
                json_string(f, st.version);
                fprintf(f, ",\"started\":%.3f,\"uptime_s\":%" PRIu64 ",\"guests_configured\":%" PRIu32
                        ",\"guests_running\":%" PRIu32 ",\"guests_serving\":%" PRIu32 ",\"workers\":%" PRIu32
                        ",\"clients\":%" PRIu32 ",\"registrations\":%" PRIu32 ",\"kicks\":%" PRIu64
                        ",\"unmatched\":%" PRIu64 ",\"reads\":%" PRIu64 ",\"invalid\":%" PRIu64 ",\"other\":%" PRIu64
                        ",\"irqfds\":%" PRIu32 ",\"claims\":%" PRIu32 ",\"saturated\":%" PRIu64 ",\"forwarded\":%" PRIu64
                        ",\"expired\":%" PRIu64 ",\"injected\":%" PRIu64 ",\"inject_errors\":%" PRIu64 "}\n",
                        (double) st.started_ns / 1e9, uptime_s(&st), st.guests, st.running, st.serving, st.workers,
                        st.clients, st.registrations, st.kicks, st.unmatched, st.reads, st.invalid, st.other, st.irqfds,
                        st.claims, st.saturated, st.forwarded, st.expired, st.injected, st.inject_errors);
                return 0;
        }
        fmt_duration(up, sizeof up, uptime_s(&st));
        fprintf(f, "xen-ioreqd %s, up %s\n", st.version, up);
        fprintf(f, "guests: %" PRIu32 " configured, %" PRIu32 " running, %" PRIu32 " serving; workers: %" PRIu32 "\n",
                st.guests, st.running, st.serving, st.workers);
        fprintf(f, "clients: %" PRIu32 ", registrations: %" PRIu32 "\n", st.clients, st.registrations);
        fprintf(f, "kicks: %" PRIu64 ", unmatched: %" PRIu64 ", reads: %" PRIu64 ", invalid: %" PRIu64
                ", other: %" PRIu64 "\n", st.kicks, st.unmatched, st.reads, st.invalid, st.other);
        fprintf(f, "irqfds: %" PRIu32 ", injected: %" PRIu64 ", inject errors: %" PRIu64 "\n", st.irqfds, st.injected,
                st.inject_errors);
        fprintf(f, "claims: %" PRIu32 ", forwarded: %" PRIu64 ", expired: %" PRIu64 "; saturated kicks: %" PRIu64 "\n",
                st.claims, st.forwarded, st.expired, st.saturated);
        return 0;
}

/* ---- guests ---- */

static void json_guest(FILE *f, const CtlGuest *g) {
        fputs("{\"name\":", f);
        json_string(f, g->name);
        fputs(",\"domid\":", f);
        json_u32_or_null(f, g->domid);
        fprintf(f, ",\"state\":\"%s\",\"server_id\":", state_name(g->state));
        json_u32_or_null(f, g->server_id);
        fprintf(f, ",\"vcpus\":%" PRIu32 ",\"clients\":%" PRIu32 ",\"registrations\":%" PRIu32 ",\"kicks\":%" PRIu64
                ",\"kicks_per_s\":%.3f,\"unmatched\":%" PRIu64 ",\"reads\":%" PRIu64 ",\"invalid\":%" PRIu64
                ",\"other\":%" PRIu64 ",\"last_error\":",
                g->nr_vcpus, g->clients, g->registrations, g->kicks, g->kicks_per_s, g->unmatched, g->reads,
                g->invalid, g->other);
        if (g->last_error > 0)
                json_string(f, strerror(g->last_error));
        else
                fputs("null", f);
        fprintf(f, ",\"last_errno\":%d,\"worker_pid\":", g->last_error);
        if (g->worker_pid)
                fprintf(f, "%" PRIu32, g->worker_pid);
        else
                fputs("null", f);
        fprintf(f, ",\"worker_cpu_s\":%.3f,\"irqfds\":%" PRIu32 ",\"claims\":%" PRIu32 ",\"saturated\":%" PRIu64
                ",\"forwarded\":%" PRIu64 ",\"expired\":%" PRIu64 ",\"injected\":%" PRIu64 ",\"inject_errors\":%" PRIu64 "}",
                (double) g->worker_cpu_ns / 1e9, g->irqfds, g->claims, g->saturated, g->forwarded, g->expired,
                g->injected, g->inject_errors);
}

static void text_u32(char *buf, size_t size, uint32_t v) {
        if (v == CTL_NONE)
                snprintf(buf, size, "-");
        else
                snprintf(buf, size, "%" PRIu32, v);
}

static void text_guest_header(FILE *f) {
        fprintf(f, "%-20s %6s %-8s %6s %5s %7s %5s %6s %6s %12s %10s %10s %8s  %s\n", "NAME", "DOMID", "STATE",
                "SERVER", "VCPUS", "CLIENTS", "REGS", "IRQFDS", "CLAIMS", "KICKS", "KICKS/S", "UNMATCHED", "INVALID",
                "LAST-ERROR");
}

static void text_guest(FILE *f, const CtlGuest *g) {
        char name[CTL_NAME_SIZE * 4 + 1], domid[16], server[16];

        text_u32(domid, sizeof domid, g->domid);
        text_u32(server, sizeof server, g->server_id);
        fprintf(f, "%-20s %6s %-8s %6s %5" PRIu32 " %7" PRIu32 " %5" PRIu32 " %6" PRIu32 " %6" PRIu32 " %12" PRIu64
                " %10.1f %10" PRIu64 " %8" PRIu64 "  %s\n",
                text_escape(g->name, name, sizeof name), domid, state_name(g->state), server, g->nr_vcpus,
                g->clients, g->registrations, g->irqfds, g->claims, g->kicks, g->kicks_per_s, g->unmatched, g->invalid,
                g->last_error > 0 ? strerror(g->last_error) : "-");
}

int ctl_print_guests(Ctl *c, FILE *f, bool json) {
        CtlGuest *v;
        size_t n;
        int r;

        r = ctl_guests(c, &v, &n);
        if (r < 0)
                return r;
        if (json) {
                fputs("{\"guests\":[", f);
                for (size_t i = 0; i < n; i++) {
                        if (i)
                                fputc(',', f);
                        json_guest(f, &v[i]);
                }
                fputs("]}\n", f);
        } else {
                text_guest_header(f);
                for (size_t i = 0; i < n; i++)
                        text_guest(f, &v[i]);
        }
        free(v);
        return 0;
}

/* ---- show ---- */

static void json_hist(FILE *f, const CtlHist *h) {
        bool first = true;

        fprintf(f, "{\"count\":%" PRIu64 ",\"sum_ns\":%" PRIu64 ",\"p50_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64
                ",\"p999_ns\":%" PRIu64 ",\"buckets\":[",
                h->count, h->sum_ns, ctl_hist_quantile(h, 0.5), ctl_hist_quantile(h, 0.99),
                ctl_hist_quantile(h, 0.999));
        for (unsigned i = 0; i < CTL_HIST_BUCKETS; i++) {
                if (!h->buckets[i])
                        continue;
                fprintf(f, "%s{\"ge_ns\":%" PRIu64 ",\"lt_ns\":%" PRIu64 ",\"count\":%" PRIu64 "}", first ? "" : ",",
                        stats_hist_lower(i), stats_hist_lower(i + 1), h->buckets[i]);
                first = false;
        }
        fputs("]}", f);
}

static void text_hist(FILE *f, const CtlHist *h) {
        char p50[32], p99[32], p999[32], mean[32], lo[32], hi[32];
        uint64_t max = 0;

        if (h->count == 0) {
                fputs("dispatch latency: no kicks yet\n", f);
                return;
        }
        fmt_ns(p50, sizeof p50, ctl_hist_quantile(h, 0.5));
        fmt_ns(p99, sizeof p99, ctl_hist_quantile(h, 0.99));
        fmt_ns(p999, sizeof p999, ctl_hist_quantile(h, 0.999));
        fmt_ns(mean, sizeof mean, h->sum_ns / h->count);
        fprintf(f, "dispatch latency (event channel to answer, %" PRIu64 " kicks): p50 < %s, p99 < %s, p99.9 < %s, "
                "mean %s\n", h->count, p50, p99, p999, mean);
        for (unsigned i = 0; i < CTL_HIST_BUCKETS; i++)
                if (h->buckets[i] > max)
                        max = h->buckets[i];
        for (unsigned i = 0; i < CTL_HIST_BUCKETS; i++) {
                char bar[41];
                unsigned w;

                if (!h->buckets[i])
                        continue;
                w = (unsigned) ((h->buckets[i] * 40 + max - 1) / max);
                memset(bar, '#', w);
                bar[w] = '\0';
                fmt_ns(lo, sizeof lo, stats_hist_lower(i));
                fmt_ns(hi, sizeof hi, stats_hist_lower(i + 1));
                fprintf(f, "  %10s .. %-10s %12" PRIu64 " %s\n", lo, hi, h->buckets[i], bar);
        }
}

static void fmt_last_kick(char *buf, size_t size, const CtlReg *r, uint64_t now_ns) {
        if (!r->counted)
                snprintf(buf, size, "-");
        else if (!r->last_kick_ns)
                snprintf(buf, size, "never");
        else if (now_ns >= r->last_kick_ns)
                snprintf(buf, size, "%.1f s ago", (double) (now_ns - r->last_kick_ns) / 1e9);
        else
                snprintf(buf, size, "now");
}

/* a counter the worker has not counted yet: null in JSON, "-" in text */
static void json_counter(FILE *f, const char *key, bool counted, uint64_t v) {
        if (counted)
                fprintf(f, ",\"%s\":%" PRIu64, key, v);
        else
                fprintf(f, ",\"%s\":null", key);
}

static const char *text_counter(char *buf, size_t size, bool counted, uint64_t v) {
        if (counted)
                snprintf(buf, size, "%" PRIu64, v);
        else
                snprintf(buf, size, "-");
        return buf;
}

static void json_irqfd(FILE *f, const CtlIrqfd *x) {
        fprintf(f, "{\"owner_pid\":%" PRIu32 ",\"owner_uid\":%" PRIu32 ",\"id\":%" PRIu32 ",\"action\":\"%s\","
                "\"mode\":\"%s\",\"irq\":%" PRIu32 ",\"segment\":%u,\"bus\":%u,\"device\":%u,\"pin\":%u,"
                "\"msi_addr\":%" PRIu64 ",\"msi_data\":%" PRIu32,
                x->owner_pid, x->owner_uid, x->id, action_name(x->action), mode_name(x->mode), x->irq, x->segment,
                x->bus, x->device, x->pin, x->msi_addr, x->msi_data);
        json_counter(f, "signals", x->counted, x->signals);
        json_counter(f, "injections", x->counted, x->injections);
        json_counter(f, "errors", x->counted, x->errors);
        fputc('}', f);
}

static void json_claim(FILE *f, const CtlClaim *x) {
        fprintf(f, "{\"owner_pid\":%" PRIu32 ",\"owner_uid\":%" PRIu32 ",\"id\":%" PRIu32 ",\"space\":\"%s\","
                "\"address\":%" PRIu64 ",\"length\":%" PRIu64 ",\"deadline_ms\":%" PRIu32,
                x->owner_pid, x->owner_uid, x->id, space_name(x->space), x->addr, x->len, x->deadline_ms);
        json_counter(f, "forwarded", x->counted, x->forwarded);
        json_counter(f, "answered", x->counted, x->answered);
        json_counter(f, "expired", x->counted, x->expired);
        fputc('}', f);
}

/* what an irqfd injects, in a few words */
static void text_irqfd_target(char *buf, size_t size, const CtlIrqfd *x) {
        switch (x->action) {
        case XIRQ_IRQ_LINE:
        case XIRQ_IRQ_ISA:
                snprintf(buf, size, "irq %" PRIu32, x->irq);
                break;
        case XIRQ_IRQ_INTX:
                snprintf(buf, size, "%04x:%02x:%02x INT%c", x->segment, x->bus, x->device,
                         x->pin < 4 ? 'A' + x->pin : '?');
                break;
        case XIRQ_IRQ_MSI:
                snprintf(buf, size, "addr %#" PRIx64 " data %#" PRIx32, x->msi_addr, x->msi_data);
                break;
        case XIRQ_IRQ_EVTCHN:
                snprintf(buf, size, "port %" PRIu32, x->irq);
                break;
        default:
                snprintf(buf, size, "-");
                break;
        }
}

static void text_irqfds(FILE *f, const CtlIrqfd *v, size_t n) {
        fprintf(f, "\nirqfds: %zu\n", n);
        if (n)
                fprintf(f, "  %8s %8s %6s %-6s %-5s %-34s %12s %12s %8s\n", "OWNER", "UID", "ID", "ACTION", "MODE",
                        "TARGET", "SIGNALS", "INJECTIONS", "ERRORS");
        for (size_t i = 0; i < n; i++) {
                const CtlIrqfd *x = &v[i];
                char target[64], sig[24], inj[24], err[24];

                text_irqfd_target(target, sizeof target, x);
                fprintf(f, "  %8" PRIu32 " %8" PRIu32 " %6" PRIu32 " %-6s %-5s %-34s %12s %12s %8s\n", x->owner_pid,
                        x->owner_uid, x->id, action_name(x->action), mode_name(x->mode), target,
                        text_counter(sig, sizeof sig, x->counted, x->signals),
                        text_counter(inj, sizeof inj, x->counted, x->injections),
                        text_counter(err, sizeof err, x->counted, x->errors));
        }
}

static void text_claims(FILE *f, const CtlClaim *v, size_t n) {
        fprintf(f, "\nclaims: %zu\n", n);
        if (n)
                fprintf(f, "  %8s %8s %6s %-5s %18s %10s %9s %12s %12s %8s\n", "OWNER", "UID", "ID", "SPACE", "ADDRESS",
                        "LENGTH", "DEADLINE", "FORWARDED", "ANSWERED", "EXPIRED");
        for (size_t i = 0; i < n; i++) {
                const CtlClaim *x = &v[i];
                char fwd[24], ans[24], exp[24], deadline[24];

                snprintf(deadline, sizeof deadline, "%" PRIu32 " ms", x->deadline_ms);
                fprintf(f, "  %8" PRIu32 " %8" PRIu32 " %6" PRIu32 " %-5s %#18" PRIx64 " %#10" PRIx64 " %9s %12s %12s"
                        " %8s\n", x->owner_pid, x->owner_uid, x->id, space_name(x->space), x->addr, x->len, deadline,
                        text_counter(fwd, sizeof fwd, x->counted, x->forwarded),
                        text_counter(ans, sizeof ans, x->counted, x->answered),
                        text_counter(exp, sizeof exp, x->counted, x->expired));
        }
}

int ctl_print_show(Ctl *c, FILE *f, const char *name, bool json) {
        CtlGuest g;
        CtlClient *cl = NULL;
        CtlReg *regs = NULL;
        CtlIrqfd *irqfds = NULL;
        CtlClaim *claims = NULL;
        CtlHist h;
        size_t n_cl = 0, n_regs = 0, n_irqfds = 0, n_claims = 0;
        struct timespec ts;
        uint64_t now;
        int r;

        r = ctl_guest(c, name, &g);
        if (r >= 0)
                r = ctl_clients(c, name, &cl, &n_cl);
        if (r >= 0)
                r = ctl_regs(c, name, &regs, &n_regs);
        if (r >= 0)
                r = ctl_irqfds(c, name, &irqfds, &n_irqfds);
        if (r >= 0)
                r = ctl_claims(c, name, &claims, &n_claims);
        if (r >= 0)
                r = ctl_hist(c, name, &h);
        if (r < 0)
                goto finish;
        (void) clock_gettime(CLOCK_REALTIME, &ts);
        now = (uint64_t) ts.tv_sec * UINT64_C(1000000000) + (uint64_t) ts.tv_nsec;

        if (json) {
                fputs("{\"guest\":", f);
                json_guest(f, &g);
                fputs(",\"clients\":[", f);
                for (size_t i = 0; i < n_cl; i++) {
                        fprintf(f, "%s{\"pid\":%" PRIu32 ",\"uid\":%" PRIu32 ",\"gid\":%" PRIu32 ",\"comm\":",
                                i ? "," : "", cl[i].pid, cl[i].uid, cl[i].gid);
                        json_string(f, cl[i].comm);
                        fprintf(f, ",\"registrations\":%" PRIu32 "}", cl[i].registrations);
                }
                fputs("],\"registrations\":[", f);
                for (size_t i = 0; i < n_regs; i++) {
                        const CtlReg *x = &regs[i];

                        fprintf(f, "%s{\"space\":\"%s\",\"address\":%" PRIu64 ",\"length\":%u,\"match\":\"%s\","
                                "\"value\":%" PRIu64 ",\"mask\":%" PRIu64 ",\"owner_pid\":%" PRIu32 ",\"kicks\":",
                                i ? "," : "", space_name(x->space), x->addr, x->len, match_name(x->match), x->value,
                                x->mask, x->owner_pid);
                        if (x->counted)
                                fprintf(f, "%" PRIu64, x->kicks);
                        else
                                fputs("null", f);
                        fputs(",\"last_kick\":", f);
                        if (x->counted && x->last_kick_ns)
                                fprintf(f, "%.6f", (double) x->last_kick_ns / 1e9);
                        else
                                fputs("null", f);
                        fputc('}', f);
                }
                fputs("],\"irqfds\":[", f);
                for (size_t i = 0; i < n_irqfds; i++) {
                        if (i)
                                fputc(',', f);
                        json_irqfd(f, &irqfds[i]);
                }
                fputs("],\"claims\":[", f);
                for (size_t i = 0; i < n_claims; i++) {
                        if (i)
                                fputc(',', f);
                        json_claim(f, &claims[i]);
                }
                fputs("],\"latency\":", f);
                json_hist(f, &h);
                fputs("}\n", f);
                goto finish;
        }

        text_guest_header(f);
        text_guest(f, &g);
        if (g.worker_pid)
                fprintf(f, "worker: pid %" PRIu32 ", CPU %.2f s\n", g.worker_pid, (double) g.worker_cpu_ns / 1e9);
        else
                fputs("worker: none\n", f);
        fprintf(f, "saturated kicks (eventfd counter full, coalesced): %" PRIu64 "\n", g.saturated);

        fprintf(f, "\nclients: %zu\n", n_cl);
        if (n_cl)
                fprintf(f, "  %8s %8s %8s %-16s %5s\n", "PID", "UID", "GID", "COMM", "REGS");
        for (size_t i = 0; i < n_cl; i++) {
                char comm[sizeof(cl[i].comm) * 4 + 1];

                fprintf(f, "  %8" PRIu32 " %8" PRIu32 " %8" PRIu32 " %-16s %5" PRIu32 "\n", cl[i].pid, cl[i].uid,
                        cl[i].gid, cl[i].comm[0] ? text_escape(cl[i].comm, comm, sizeof comm) : "-",
                        cl[i].registrations);
        }

        fprintf(f, "\nregistrations: %zu\n", n_regs);
        if (n_regs)
                fprintf(f, "  %-5s %18s %3s %-5s %18s %18s %8s %12s  %s\n", "SPACE", "ADDRESS", "LEN", "MATCH", "VALUE",
                        "MASK", "OWNER", "KICKS", "LAST-KICK");
        for (size_t i = 0; i < n_regs; i++) {
                const CtlReg *x = &regs[i];
                char kicks[24], last[32];

                if (x->counted)
                        snprintf(kicks, sizeof kicks, "%" PRIu64, x->kicks);
                else
                        snprintf(kicks, sizeof kicks, "-");
                fmt_last_kick(last, sizeof last, x, now);
                fprintf(f, "  %-5s %#18" PRIx64 " %3u %-5s %#18" PRIx64 " %#18" PRIx64 " %8" PRIu32 " %12s  %s\n",
                        space_name(x->space), x->addr, x->len, match_name(x->match), x->value, x->mask, x->owner_pid,
                        kicks, last);
        }
        text_irqfds(f, irqfds, n_irqfds);
        fprintf(f, "  injected: %" PRIu64 ", inject errors: %" PRIu64 "\n", g.injected, g.inject_errors);
        text_claims(f, claims, n_claims);
        fprintf(f, "  forwarded: %" PRIu64 ", expired: %" PRIu64 "\n\n", g.forwarded, g.expired);
        text_hist(f, &h);

finish:
        free(cl);
        free(regs);
        free(irqfds);
        free(claims);
        return r;
}

/* ---- metrics ---- */

static void prom_head(FILE *f, const char *name, const char *type, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_guest_u64(FILE *f, const char *metric, const CtlGuest *g, uint64_t v) {
        fprintf(f, "%s{guest=", metric);
        prom_label(f, g->name);
        fprintf(f, "} %" PRIu64 "\n", v);
}

typedef struct PromCounter {
        const char *name, *type, *help;
        size_t offset;
        bool u32;
} PromCounter;

static const PromCounter prom_guest_metrics[] = {
        { "xen_ioreqd_kicks_total", "counter", "Guest writes that signalled an eventfd.", offsetof(CtlGuest, kicks), false },
        { "xen_ioreqd_unmatched_writes_total", "counter", "Valid guest writes that matched no registration.",
          offsetof(CtlGuest, unmatched), false },
        { "xen_ioreqd_reads_total", "counter", "Valid guest reads (answered with 0).", offsetof(CtlGuest, reads), false },
        { "xen_ioreqd_invalid_requests_total", "counter", "Malformed ioreqs, completed safely.",
          offsetof(CtlGuest, invalid), false },
        { "xen_ioreqd_other_requests_total", "counter", "INVALIDATE, TIMEOFFSET and PCI_CONFIG ioreqs.",
          offsetof(CtlGuest, other), false },
        { "xen_ioreqd_saturated_kicks_total", "counter", "Kicks that found their eventfd's counter full (coalesced).",
          offsetof(CtlGuest, saturated), false },
        { "xen_ioreqd_forwarded_accesses_total", "counter", "Guest accesses forwarded to a claim's backend.",
          offsetof(CtlGuest, forwarded), false },
        { "xen_ioreqd_expired_accesses_total", "counter", "Forwarded accesses completed without an answer.",
          offsetof(CtlGuest, expired), false },
        { "xen_ioreqd_injected_interrupts_total", "counter", "Interrupts injected by irqfds.",
          offsetof(CtlGuest, injected), false },
        { "xen_ioreqd_injection_errors_total", "counter", "Irqfd injections that Xen refused.",
          offsetof(CtlGuest, inject_errors), false },
        { "xen_ioreqd_clients", "gauge", "Connections of backends.", offsetof(CtlGuest, clients), true },
        { "xen_ioreqd_registrations", "gauge", "Registered eventfds.", offsetof(CtlGuest, registrations), true },
        { "xen_ioreqd_irqfds", "gauge", "Assigned irqfds.", offsetof(CtlGuest, irqfds), true },
        { "xen_ioreqd_claims", "gauge", "Claimed ranges.", offsetof(CtlGuest, claims), true },
        { "xen_ioreqd_vcpus", "gauge", "vCPUs of the guest's ioreq server (0: none).", offsetof(CtlGuest, nr_vcpus), true },
};

/*
 * Per irqfd and per claim: labelled by guest, owner pid and the owner's id,
 * so at most a guest's limits (64 irqfds, 32 claims) of series per guest at
 * a time; a backend that reconnects starts new series.
 */
typedef struct PromObject {
        const char *name, *help;
        size_t offset;
} PromObject;

static const PromObject prom_irqfd_metrics[] = {
        { "xen_ioreqd_irqfd_signals_total", "Signals of one irqfd's eventfd seen by the worker.",
          offsetof(CtlIrqfd, signals) },
        { "xen_ioreqd_irqfd_injections_total", "Interrupts one irqfd injected.", offsetof(CtlIrqfd, injections) },
        { "xen_ioreqd_irqfd_errors_total", "Injections of one irqfd that Xen refused.", offsetof(CtlIrqfd, errors) },
};

static const PromObject prom_claim_metrics[] = {
        { "xen_ioreqd_claim_forwarded_total", "Accesses forwarded to one claim.", offsetof(CtlClaim, forwarded) },
        { "xen_ioreqd_claim_answered_total", "Forwarded accesses one claim's backend answered.",
          offsetof(CtlClaim, answered) },
        { "xen_ioreqd_claim_expired_total", "Forwarded accesses of one claim completed without an answer.",
          offsetof(CtlClaim, expired) },
};

static uint64_t prom_field(const void *elem, size_t offset) {
        uint64_t v;

        memcpy(&v, (const char *) elem + offset, sizeof(v));
        return v;
}

int ctl_print_metrics(Ctl *c, FILE *f) {
        CtlStatus st;
        CtlGuest *v = NULL;
        CtlHist *hists = NULL;
        CtlReg **regs = NULL;
        CtlIrqfd **irqfds = NULL;
        CtlClaim **claims = NULL;
        size_t n = 0, *n_regs = NULL, *n_irqfds = NULL, *n_claims = NULL;
        int r;

        r = ctl_status(c, &st);
        if (r >= 0)
                r = ctl_guests(c, &v, &n);
        if (r < 0)
                return r;
        hists = calloc(n ? n : 1, sizeof(*hists));
        regs = calloc(n ? n : 1, sizeof(*regs));
        n_regs = calloc(n ? n : 1, sizeof(*n_regs));
        irqfds = calloc(n ? n : 1, sizeof(*irqfds));
        n_irqfds = calloc(n ? n : 1, sizeof(*n_irqfds));
        claims = calloc(n ? n : 1, sizeof(*claims));
        n_claims = calloc(n ? n : 1, sizeof(*n_claims));
        if (!hists || !regs || !n_regs || !irqfds || !n_irqfds || !claims || !n_claims) {
                r = -ENOMEM;
                goto finish;
        }
        /* a guest removed meanwhile (ENOENT) is left out */
        for (size_t i = 0; i < n; i++) {
                r = ctl_hist(c, v[i].name, &hists[i]);
                if (r >= 0)
                        r = ctl_regs(c, v[i].name, &regs[i], &n_regs[i]);
                if (r >= 0)
                        r = ctl_irqfds(c, v[i].name, &irqfds[i], &n_irqfds[i]);
                if (r >= 0)
                        r = ctl_claims(c, v[i].name, &claims[i], &n_claims[i]);
                if (r == -ENOENT) {
                        v[i].name[0] = '\0';
                        r = 0;
                }
                if (r < 0)
                        goto finish;
        }

        prom_head(f, "xen_ioreqd_info", "gauge", "The running xen-ioreqd.");
        fputs("xen_ioreqd_info{version=", f);
        prom_label(f, st.version);
        fputs("} 1\n", f);
        prom_head(f, "xen_ioreqd_start_time_seconds", "gauge", "When the running xen-ioreqd started (Unix time).");
        fprintf(f, "xen_ioreqd_start_time_seconds %.3f\n", (double) st.started_ns / 1e9);
        prom_head(f, "xen_ioreqd_guests", "gauge", "Configured guests by state.");
        for (uint32_t s = XIRQ_GUEST_ABSENT; s <= XIRQ_GUEST_FAILED; s++) {
                unsigned k = 0;

                for (size_t i = 0; i < n; i++)
                        k += v[i].name[0] && v[i].state == s;
                fprintf(f, "xen_ioreqd_guests{state=\"%s\"} %u\n", state_name(s), k);
        }
        prom_head(f, "xen_ioreqd_workers", "gauge", "Per-guest worker processes.");
        fprintf(f, "xen_ioreqd_workers %" PRIu32 "\n", st.workers);

        for (size_t m = 0; m < sizeof(prom_guest_metrics) / sizeof(prom_guest_metrics[0]); m++) {
                const PromCounter *pc = &prom_guest_metrics[m];

                prom_head(f, pc->name, pc->type, pc->help);
                for (size_t i = 0; i < n; i++) {
                        const char *p = (const char *) &v[i] + pc->offset;
                        uint64_t val;

                        if (!v[i].name[0])
                                continue;
                        if (pc->u32) {
                                uint32_t x;

                                memcpy(&x, p, sizeof(x));
                                val = x;
                        } else
                                memcpy(&val, p, sizeof(val));
                        prom_guest_u64(f, pc->name, &v[i], val);
                }
        }
        prom_head(f, "xen_ioreqd_guest_info", "gauge", "A configured guest: its state and domain.");
        for (size_t i = 0; i < n; i++) {
                char domid[16];

                if (!v[i].name[0])
                        continue;
                text_u32(domid, sizeof domid, v[i].domid);
                fputs("xen_ioreqd_guest_info{guest=", f);
                prom_label(f, v[i].name);
                fprintf(f, ",state=\"%s\",domid=\"%s\"} 1\n", state_name(v[i].state), domid);
        }
        prom_head(f, "xen_ioreqd_worker_cpu_seconds_total", "counter",
                  "CPU time of the guest's current worker (user and system).");
        for (size_t i = 0; i < n; i++) {
                if (!v[i].name[0])
                        continue;
                fputs("xen_ioreqd_worker_cpu_seconds_total{guest=", f);
                prom_label(f, v[i].name);
                fprintf(f, "} %.3f\n", (double) v[i].worker_cpu_ns / 1e9);
        }

        prom_head(f, "xen_ioreqd_dispatch_latency_seconds", "histogram",
                  "From the worker waking up on the event channel to the kick's ioreq answered, per kick.");
        for (size_t i = 0; i < n; i++) {
                const CtlHist *h = &hists[i];
                uint64_t cum = 0;
                unsigned b = 0;

                if (!v[i].name[0])
                        continue;
                for (unsigned shift = METRICS_LE_MIN_SHIFT; shift <= METRICS_LE_MAX_SHIFT; shift++) {
                        /* every bucket below 2^shift ns: 2^shift is a bucket boundary */
                        while (b < CTL_HIST_BUCKETS && stats_hist_lower(b + 1) <= (UINT64_C(1) << shift))
                                cum += h->buckets[b++];
                        fputs("xen_ioreqd_dispatch_latency_seconds_bucket{guest=", f);
                        prom_label(f, v[i].name);
                        fprintf(f, ",le=\"%.9g\"} %" PRIu64 "\n", (double) (UINT64_C(1) << shift) / 1e9, cum);
                }
                fputs("xen_ioreqd_dispatch_latency_seconds_bucket{guest=", f);
                prom_label(f, v[i].name);
                fprintf(f, ",le=\"+Inf\"} %" PRIu64 "\n", h->count);
                fputs("xen_ioreqd_dispatch_latency_seconds_sum{guest=", f);
                prom_label(f, v[i].name);
                fprintf(f, "} %.9f\n", (double) h->sum_ns / 1e9);
                fputs("xen_ioreqd_dispatch_latency_seconds_count{guest=", f);
                prom_label(f, v[i].name);
                fprintf(f, "} %" PRIu64 "\n", h->count);
        }

        prom_head(f, "xen_ioreqd_registration_kicks_total", "counter", "Kicks of one registration.");
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; v[i].name[0] && k < n_regs[i]; k++) {
                        const CtlReg *x = &regs[i][k];

                        if (!x->counted)
                                continue;
                        fputs("xen_ioreqd_registration_kicks_total{guest=", f);
                        prom_label(f, v[i].name);
                        fprintf(f, ",space=\"%s\",address=\"0x%" PRIx64 "\",length=\"%u\",match=\"%s\",value=\"0x%"
                                PRIx64 "\",mask=\"0x%" PRIx64 "\"} %" PRIu64 "\n", space_name(x->space), x->addr,
                                x->len, match_name(x->match), x->value, x->mask, x->kicks);
                }
        for (size_t m = 0; m < sizeof(prom_irqfd_metrics) / sizeof(prom_irqfd_metrics[0]); m++) {
                const PromObject *po = &prom_irqfd_metrics[m];

                prom_head(f, po->name, "counter", po->help);
                for (size_t i = 0; i < n; i++)
                        for (size_t k = 0; v[i].name[0] && k < n_irqfds[i]; k++) {
                                const CtlIrqfd *x = &irqfds[i][k];

                                if (!x->counted)
                                        continue;
                                fprintf(f, "%s{guest=", po->name);
                                prom_label(f, v[i].name);
                                fprintf(f, ",pid=\"%" PRIu32 "\",id=\"%" PRIu32 "\",action=\"%s\"} %" PRIu64 "\n",
                                        x->owner_pid, x->id, action_name(x->action), prom_field(x, po->offset));
                        }
        }
        for (size_t m = 0; m < sizeof(prom_claim_metrics) / sizeof(prom_claim_metrics[0]); m++) {
                const PromObject *po = &prom_claim_metrics[m];

                prom_head(f, po->name, "counter", po->help);
                for (size_t i = 0; i < n; i++)
                        for (size_t k = 0; v[i].name[0] && k < n_claims[i]; k++) {
                                const CtlClaim *x = &claims[i][k];

                                if (!x->counted)
                                        continue;
                                fprintf(f, "%s{guest=", po->name);
                                prom_label(f, v[i].name);
                                fprintf(f, ",pid=\"%" PRIu32 "\",id=\"%" PRIu32 "\",space=\"%s\",address=\"0x%" PRIx64
                                        "\"} %" PRIu64 "\n", x->owner_pid, x->id, space_name(x->space), x->addr,
                                        prom_field(x, po->offset));
                        }
        }
        r = 0;
finish:
        for (size_t i = 0; i < n; i++) {
                if (regs)
                        free(regs[i]);
                if (irqfds)
                        free(irqfds[i]);
                if (claims)
                        free(claims[i]);
        }
        free(regs);
        free(n_regs);
        free(irqfds);
        free(n_irqfds);
        free(claims);
        free(n_claims);
        free(hists);
        free(v);
        return r;
}

/* ---- top ---- */

typedef struct TopPrev {
        char name[CTL_NAME_SIZE];
        uint64_t kicks, cpu_ns;
        uint32_t worker_pid;
        CtlHist hist;
} TopPrev;

static const TopPrev *top_find(const TopPrev *prev, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(prev[i].name, name) == 0)
                        return &prev[i];
        return NULL;
}

int ctl_top(Ctl *c, FILE *f, bool json, unsigned delay_s, unsigned iterations) {
        TopPrev *prev = NULL;
        size_t n_prev = 0;
        uint64_t prev_ns = 0;
        bool tty = !json && isatty(fileno(f));
        int r = 0;

        for (unsigned it = 0; iterations == 0 || it < iterations; it++) {
                CtlStatus st;
                CtlGuest *v = NULL;
                TopPrev *cur;
                size_t n = 0;
                uint64_t now;
                double dt;
                char up[64];

                if (it > 0)
                        (void) poll(NULL, 0, (int) delay_s * 1000);
                r = ctl_status(c, &st);
                if (r >= 0)
                        r = ctl_guests(c, &v, &n);
                if (r < 0)
                        break;
                cur = calloc(n ? n : 1, sizeof(*cur));
                if (!cur) {
                        free(v);
                        r = -ENOMEM;
                        break;
                }
                now = st.now_ns;
                dt = prev_ns && now > prev_ns ? (double) (now - prev_ns) / 1e9 : 0;

                if (tty)
                        fputs("\033[H\033[2J", f);
                fmt_duration(up, sizeof up, uptime_s(&st));
                if (json)
                        fprintf(f, "{\"time\":%.3f,\"guests\":[", (double) now / 1e9);
                else
                        fprintf(f, "xen-ioreqd %s, up %s: %" PRIu32 " guests, %" PRIu32 " serving, %" PRIu32
                                " clients, %" PRIu32 " registrations\n%-20s %6s %-8s %10s %10s %7s %7s %5s\n",
                                st.version, up, st.guests, st.serving, st.clients, st.registrations, "NAME", "DOMID",
                                "STATE", "KICKS/S", "P99", "CPU%", "CLIENTS", "REGS");
                for (size_t i = 0; i < n; i++) {
                        const TopPrev *p = top_find(prev, n_prev, v[i].name);
                        CtlHist delta;
                        double rate = v[i].kicks_per_s, cpu = 0;
                        uint64_t p99;
                        char name[CTL_NAME_SIZE * 4 + 1], domid[16], p99s[32];

                        snprintf(cur[i].name, sizeof cur[i].name, "%s", v[i].name);
                        cur[i].kicks = v[i].kicks;
                        cur[i].cpu_ns = v[i].worker_cpu_ns;
                        cur[i].worker_pid = v[i].worker_pid;
                        if (ctl_hist(c, v[i].name, &cur[i].hist) < 0)
                                memset(&cur[i].hist, 0, sizeof(cur[i].hist));
                        /* since the last refresh, when there was one */
                        delta = cur[i].hist;
                        if (p && dt > 0) {
                                if (v[i].kicks >= p->kicks)
                                        rate = (double) (v[i].kicks - p->kicks) / dt;
                                if (v[i].worker_pid == p->worker_pid && v[i].worker_cpu_ns >= p->cpu_ns)
                                        cpu = (double) (v[i].worker_cpu_ns - p->cpu_ns) / 1e9 / dt * 100.0;
                                for (unsigned b = 0; b < CTL_HIST_BUCKETS; b++)
                                        delta.buckets[b] = delta.buckets[b] >= p->hist.buckets[b] ?
                                                           delta.buckets[b] - p->hist.buckets[b] : 0;
                        }
                        p99 = ctl_hist_quantile(&delta, 0.99);
                        if (json) {
                                fprintf(f, "%s{\"name\":", i ? "," : "");
                                json_string(f, v[i].name);
                                fputs(",\"domid\":", f);
                                json_u32_or_null(f, v[i].domid);
                                fprintf(f, ",\"state\":\"%s\",\"kicks\":%" PRIu64 ",\"kicks_per_s\":%.3f,\"p99_ns\":%"
                                        PRIu64 ",\"cpu_percent\":%.1f,\"clients\":%" PRIu32 ",\"registrations\":%"
                                        PRIu32 "}", state_name(v[i].state), v[i].kicks, rate, p99, cpu, v[i].clients,
                                        v[i].registrations);
                                continue;
                        }
                        text_u32(domid, sizeof domid, v[i].domid);
                        if (p99)
                                fmt_ns(p99s, sizeof p99s, p99);
                        else
                                snprintf(p99s, sizeof p99s, "-");
                        fprintf(f, "%-20s %6s %-8s %10.1f %10s %7.1f %7" PRIu32 " %5" PRIu32 "\n",
                                text_escape(v[i].name, name, sizeof name), domid, state_name(v[i].state), rate, p99s,
                                cpu, v[i].clients, v[i].registrations);
                }
                if (json)
                        fputs("]}\n", f);
                fflush(f);
                free(v);
                free(prev);
                prev = cur;
                n_prev = n;
                prev_ns = now;
        }
        free(prev);
        return r;
}
