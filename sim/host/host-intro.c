/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * host-intro.c - introspection for tests: what each client connection (one library handle)
 * holds on the host, read from the state of the layers below (evtchn ports, resource
 * mappings, servers), and how many map_resource calls each process made, kept after its
 * mappings and connections are gone. Called only by host.c, which releases the holdings of
 * clients that hung up before each answer. Every answer is one entry, found by a scan bounded
 * by the host's own tables (clients, XS_MAX_PORTS ports, HOST_MAX_MAPS mappings per client).
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdint.h>

#include "host-internal.h"

/* ---- map_resource history ---- */

static struct hmapper *mapper_find(struct host *h, uint32_t pid) {
        for (unsigned i = 0; i < h->nr_mappers; i++)
                if (h->mapper[i].pid == pid)
                        return &h->mapper[i];
        return NULL;
}

/* A record for pid; when HOST_MAP_HISTORY are kept, the oldest one is dropped for it. */
static struct hmapper *mapper_get(struct host *h, uint32_t pid) {
        struct hmapper *m = mapper_find(h, pid);

        if (m)
                return m;
        if (h->nr_mappers < HOST_MAP_HISTORY) {
                m = &h->mapper[h->nr_mappers++];
        } else {
                m = &h->mapper[h->mapper_oldest];
                h->mapper_oldest = (h->mapper_oldest + 1) % HOST_MAP_HISTORY;
                h->mappers_forgotten++;
        }
        *m = (struct hmapper){ .pid = pid };
        return m;
}

void host_intro_map_result(struct host *h, struct host_client *c, uint32_t pid, int r) {
        struct hmapper *m = mapper_get(h, pid);

        if (r == 0) {
                m->ok++;
                if (c->map_calls < UINT32_MAX)
                        c->map_calls++;
        } else {
                m->refused++;
        }
}

/* ---- handles ---- */

static struct host_client *client_find(struct host *h, uint64_t id) {
        for (struct host_client *c = h->clients; c; c = c->next)
                if (!c->gone && c->id == id)
                        return c;
        return NULL;
}

static uint32_t client_ports(struct host *h, const struct host_client *c) {
        uint32_t n = 0;
        if (c->evt < 0)
                return 0;
        for (uint32_t l = 1; l < XS_MAX_PORTS; l++)
                n += h->port[l].handle == (uint32_t)c->evt + 1;
        return n;
}

/* The first client with id >= first opened or last used by pid (0: any). */
static int intro_handle(struct host *h, uint64_t pid, uint64_t first, uint64_t *val) {
        for (struct host_client *c = h->clients; c; c = c->next) {
                if (c->gone || c->id < first || (pid && c->pid != pid && c->last_pid != pid))
                        continue;
                val[0] = c->id;
                val[1] = c->pid | (uint64_t)c->last_pid << 32;
                val[2] = c->kind | (uint64_t)c->restricted << 8 |
                         (uint64_t)(c->restricted ? c->rdomid & 0xffff : 0) << 16 |
                         (uint64_t)client_ports(h, c) << 32;
                val[3] = c->nr_maps | (uint64_t)c->map_calls << 32;
                return 0;
        }
        return 0;
}

/* The first port >= first of the evtchn handle of client id, and what its remote side is. */
static int intro_port(struct host *h, uint64_t id, uint64_t first, uint64_t *val) {
        struct host_client *c = client_find(h, id);
        uint32_t hid;

        if (!c)
                return -ENOENT;
        if (c->evt < 0)
                return 0;
        hid = (uint32_t)c->evt + 1;
        for (uint64_t l = first ? first : 1; l < XS_MAX_PORTS; l++) {
                const struct hport *p = &h->port[l];
                const struct hdom *d;
                const struct hgport *g;

                if (p->handle != hid)
                        continue;
                val[0] = l;
                val[1] = UINT32_MAX;
                val[3] = XS_INTRO_PORT_GONE;
                d = p->rslot ? h->dom[p->rslot - 1] : NULL;
                if (!d || p->rport >= XS_MAX_GPORTS)
                        return 0;
                g = &d->gport[p->rport];
                if (g->lport != l)
                        return 0;
                if (g->kind == XS_GPORT_EVTCHN)
                        val[3] = XS_INTRO_PORT_INTERDOMAIN | (uint64_t)UINT16_MAX << 16;
                else if (g->kind == XS_GPORT_IOREQ || g->kind == XS_GPORT_BUFIOREQ)
                        val[3] = (g->kind == XS_GPORT_IOREQ ? XS_INTRO_PORT_IOREQ
                                                            : XS_INTRO_PORT_BUFIOREQ) |
                                 (uint64_t)g->srv << 8 | (uint64_t)g->vcpu << 16;
                else
                        return 0;
                val[1] = d->domid;
                val[2] = p->rport;
                return 0;
        }
        return 0;
}

/* ---- mappings ---- */

/* The mapping still maps the pages its server has now (false once that server was destroyed). */
static bool map_current(const struct hdom *d, const struct host_map *m) {
        const struct hsrv *v = &d->srv[m->srv];
        if (v->state == XS_SRV_NONE)
                return false;
        for (unsigned i = 0; i < m->nr; i++)
                if (m->page[i] != v->page && (!v->bufpage || m->page[i] != v->bufpage))
                        return false;
        return true;
}

/*
 * The mapping with the lowest id >= first of the domain in slot: of its RAM (ram), or of
 * server srv's ioreq pages (~0: any server).
 */
static const struct host_map *map_first(struct host *h, uint32_t slot, bool ram, uint64_t srv,
                                        uint64_t first, const struct host_client **ret_c) {
        const struct host_map *best = NULL;

        for (const struct host_client *c = h->clients; c; c = c->next)
                for (unsigned i = 0; !c->gone && i < c->nr_maps; i++) {
                        const struct host_map *m = &c->maps[i];
                        if ((m->frames == HOST_MAP_RAM) != ram || m->slot != slot ||
                            m->id < first || (!ram && srv != UINT64_MAX && m->srv != srv) ||
                            (best && m->id >= best->id))
                                continue;
                        best = m;
                        *ret_c = c;
                }
        return best;
}

static int intro_map(struct host *h, uint64_t domid, uint64_t srv, uint64_t first,
                     uint64_t *val) {
        const struct host_client *c = NULL;
        const struct host_map *m;
        int slot;

        if (domid > UINT16_MAX || (slot = host_dom_find(h, (uint32_t)domid)) < 0)
                return -ESRCH;
        if (srv != UINT64_MAX && srv >= XS_MAX_SERVERS)
                return -EINVAL;
        m = map_first(h, (uint32_t)slot, false, srv, first, &c);
        if (!m)
                return 0;
        val[0] = m->id;
        val[1] = c->id;
        val[2] = m->pid;
        val[3] = m->srv | (uint64_t)m->frames << 8 |
                 (uint64_t)map_current(h->dom[slot], m) << 10;
        return 0;
}

static int intro_ram(struct host *h, uint64_t domid, uint64_t first, uint64_t *val) {
        const struct host_client *c = NULL;
        const struct host_map *m;
        int slot;

        if (domid > UINT16_MAX || (slot = host_dom_find(h, (uint32_t)domid)) < 0)
                return -ESRCH;
        m = map_first(h, (uint32_t)slot, true, 0, first, &c);
        if (!m)
                return 0;
        val[0] = m->id;
        val[1] = c->id;
        val[2] = m->pid;
        val[3] = m->ram_asked | (uint64_t)m->ram_mapped << 32;
        return 0;
}

static int intro_mapper(struct host *h, uint64_t pid, uint64_t *val) {
        const struct hmapper *m;
        uint64_t alive = 0;

        if (pid == 0 || pid > UINT32_MAX)
                return -EINVAL;
        m = mapper_find(h, (uint32_t)pid);
        for (const struct host_client *c = h->clients; c; c = c->next)
                for (unsigned i = 0; !c->gone && i < c->nr_maps; i++)
                        alive += c->maps[i].pid == pid && c->maps[i].frames != HOST_MAP_RAM;
        val[0] = m ? m->ok : 0;
        val[1] = m ? m->refused : 0;
        val[2] = alive;
        val[3] = h->mappers_forgotten;
        return 0;
}

int host_intro_dispatch(struct host *h, const struct xs_req *req, uint64_t *val) {
        const uint64_t *a = req->a;

        switch (req->op) {
        case XS_OP_INTRO_HANDLE:
                return intro_handle(h, a[0], a[1], val);
        case XS_OP_INTRO_PORT:
                return intro_port(h, a[0], a[1], val);
        case XS_OP_INTRO_MAP:
                return intro_map(h, a[0], a[1], a[2], val);
        case XS_OP_INTRO_MAPPER:
                return intro_mapper(h, a[0], val);
        case XS_OP_INTRO_RAM:
                return intro_ram(h, a[0], a[1], val);
        default:
                return -EOPNOTSUPP;
        }
}
