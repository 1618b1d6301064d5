/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * guest-intro.c - introspection (xensim-guest.h): the host's view of every process's handles,
 * their ports and mappings, and the map_resource history. A listing is one XS_OP_INTRO_*
 * request per entry, each answering the entry with the lowest id at or after a cursor.
 */
#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "guest-internal.h"
#include "xensim-shm.h"

/*
 * List with op: a[cur] is the cursor, moved past each entry answered; fill(v, buf, i) decodes
 * entry i into buf when i < n. Returns the number of entries.
 */
static int walk(xsg *g, uint16_t op, uint64_t *a, unsigned na, unsigned cur,
                void (*fill)(const uint64_t *v, void *buf, size_t i), void *buf, size_t n) {
        uint64_t v[4];
        size_t cnt = 0;
        int r;

        a[cur] = 1;
        for (;;) {
                r = guest_op(g, op, a, na, v);
                if (r < 0)
                        return r;
                /* Ids grow; an answer that does not would loop. */
                if (v[0] == 0 || v[0] < a[cur])
                        break;
                if (cnt < n)
                        fill(v, buf, cnt);
                if (++cnt == INT_MAX || v[0] == UINT64_MAX)
                        break;
                a[cur] = v[0] + 1;
        }
        return (int)cnt;
}

static void fill_handle(const uint64_t *v, void *buf, size_t idx) {
        struct xsg_handle_info *i = (struct xsg_handle_info *)buf + idx;
        memset(i, 0, sizeof(*i));
        i->id = v[0];
        i->pid = (uint32_t)v[1];
        i->last_pid = (uint32_t)(v[1] >> 32);
        i->kind = (enum xsg_handle_kind)(v[2] & 0xff);
        i->restricted = (v[2] >> 8) & 1;
        i->restrict_domid = (uint32_t)((v[2] >> 16) & 0xffff);
        i->nr_ports = (unsigned)(v[2] >> 32);
        i->nr_mappings = (unsigned)(uint32_t)v[3];
        i->nr_map_calls = (unsigned)(v[3] >> 32);
}

int xsg_handles(xsg *g, uint32_t pid, struct xsg_handle_info *buf, size_t n) {
        uint64_t a[2] = { pid };
        return walk(g, XS_OP_INTRO_HANDLE, a, 2, 1, fill_handle, buf, n);
}

static void fill_port(const uint64_t *v, void *buf, size_t idx) {
        struct xsg_port_info *i = (struct xsg_port_info *)buf + idx;
        unsigned kind = v[3] & 0xff;
        memset(i, 0, sizeof(*i));
        i->port = (uint32_t)v[0];
        i->vcpu = -1;
        if (kind == XS_INTRO_PORT_IOREQ)
                i->kind = XSG_PORT_IOREQ;
        else if (kind == XS_INTRO_PORT_BUFIOREQ)
                i->kind = XSG_PORT_BUFIOREQ;
        else if (kind == XS_INTRO_PORT_INTERDOMAIN)
                i->kind = XSG_PORT_INTERDOMAIN;
        else
                return;
        i->domid = (uint32_t)v[1];
        i->remote_port = (uint32_t)v[2];
        i->server = (unsigned)((v[3] >> 8) & 0xff);
        if (kind == XS_INTRO_PORT_IOREQ)
                i->vcpu = (int)((v[3] >> 16) & 0xffff);
}

int xsg_handle_ports(xsg *g, uint64_t handle, struct xsg_port_info *buf, size_t n) {
        uint64_t a[2] = { handle };
        return walk(g, XS_OP_INTRO_PORT, a, 2, 1, fill_port, buf, n);
}

static void fill_mapping(const uint64_t *v, void *buf, size_t idx) {
        struct xsg_mapping_info *i = (struct xsg_mapping_info *)buf + idx;
        memset(i, 0, sizeof(*i));
        i->id = (unsigned)v[0];
        i->handle = v[1];
        i->pid = (uint32_t)v[2];
        i->server = (unsigned)(v[3] & 0xff);
        i->ioreq = (v[3] >> 8) & 1;
        i->bufioreq = (v[3] >> 9) & 1;
        i->current = (v[3] >> 10) & 1;
}

int xsg_server_mappings(xsg *g, uint32_t domid, unsigned server, struct xsg_mapping_info *buf,
                        size_t n) {
        uint64_t a[3] = { domid, server == XSG_ANY_SERVER ? UINT64_MAX : server };
        return walk(g, XS_OP_INTRO_MAP, a, 3, 2, fill_mapping, buf, n);
}

static void fill_ram(const uint64_t *v, void *buf, size_t idx) {
        struct xsg_ram_mapping_info *i = (struct xsg_ram_mapping_info *)buf + idx;
        memset(i, 0, sizeof(*i));
        i->id = (unsigned)v[0];
        i->handle = v[1];
        i->pid = (uint32_t)v[2];
        i->frames = (unsigned)(v[3] & UINT32_MAX);
        i->frames_mapped = (unsigned)(v[3] >> 32);
}

int xsg_ram_mappings(xsg *g, uint32_t domid, struct xsg_ram_mapping_info *buf, size_t n) {
        uint64_t a[2] = { domid };
        return walk(g, XS_OP_INTRO_RAM, a, 2, 1, fill_ram, buf, n);
}

int xsg_map_history(xsg *g, uint32_t pid, struct xsg_map_history *ret) {
        uint64_t v[4];
        int r = guest_op(g, XS_OP_INTRO_MAPPER, (const uint64_t[]){ pid }, 1, v);
        if (r < 0)
                return r;
        ret->maps = v[0];
        ret->refused = v[1];
        ret->alive = (unsigned)v[2];
        ret->forgotten = v[3];
        return 0;
}
