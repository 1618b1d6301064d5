/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * host-mem.c - guest RAM (layer 3, beside host-ioreq.c, over host-dom.c): one sparse memfd per
 * domain, created when first used, the frames the guest gave back, and dom0's foreign mappings
 * of its frames (xenforeignmemory_map) with Xen 4.17's rules for an HVM guest mapped by a PV
 * dom0: a frame that is not populated or lies beyond the guest's memory fails on its own with
 * EINVAL (mod_l1_entry() finds no page behind the gfn), a dying domain's frames fail the same
 * way, and each mapping keeps a destroyed domain a zombie until it is unmapped (FACTS 9h, 11d).
 *
 * The mapping process gets the memfd itself and maps the frames out of it, so the data are
 * truly shared with the guest driver, which maps the same memfd.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "host-internal.h"

#define BITS 64u

static bool frame_gone(const struct hdom *d, uint64_t f) {
        return d->ram_gone && (d->ram_gone[f / BITS] >> (f % BITS) & 1);
}

static int ram_fd(struct host *h, struct hdom *d) {
        char name[32];
        int fd;

        if (d->ram_fd >= 0)
                return d->ram_fd;
        snprintf(name, sizeof(name), "xensim-ram-%u", d->domid);
        fd = memfd_create(name, MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (ftruncate(fd, (off_t)(d->ram_frames * XS_PAGE_SIZE)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        d->ram_fd = fd;
        host_log(h, "dom%u: RAM memfd of %llu frames", d->domid,
                 (unsigned long long)d->ram_frames);
        return fd;
}

/* The guest driver's own requests: it is the domain, so no other client makes them. */
static int guest_check(struct host *h, struct host_client *c, uint64_t domid, int *ret_slot) {
        int r;

        if (c->kind != XS_CLIENT_GUEST)
                return -EPERM;
        r = host_dom_check(c, domid, h, ret_slot);
        if (r == 0 && h->dom[*ret_slot]->state == XS_DOM_DYING)
                r = -ESRCH;
        return r;
}

int host_mem_fd(struct host *h, struct host_client *c, uint64_t domid, uint64_t *val,
                int *ret_fd) {
        int slot, r;

        r = guest_check(h, c, domid, &slot);
        if (r < 0)
                return r;
        r = ram_fd(h, h->dom[slot]);
        if (r < 0)
                return r;
        *ret_fd = r;
        val[0] = h->dom[slot]->ram_frames * XS_PAGE_SIZE;
        return 0;
}

/*
 * The guest gives frames back (the balloon's decrease_reservation) or populates them again:
 * a repopulated frame is a fresh zero page. Foreign mappings made before keep the memory they
 * map, and see the zeroes of a repopulated frame (on Xen they would keep the old page).
 */
int host_mem_populate(struct host *h, struct host_client *c, const uint64_t *a) {
        uint64_t first = a[1], n = a[2];
        struct hdom *d;
        int slot, r;

        r = guest_check(h, c, a[0], &slot);
        if (r < 0)
                return r;
        d = h->dom[slot];
        if (a[3] > 1 || n == 0 || first >= d->ram_frames || n > d->ram_frames - first)
                return -EINVAL;
        if (!a[3] && !d->ram_gone) {
                d->ram_gone = calloc((d->ram_frames + BITS - 1) / BITS, sizeof(uint64_t));
                if (!d->ram_gone)
                        return -ENOMEM;
        }
        for (uint64_t f = first; f < first + n; f++) {
                if (!a[3]) {
                        d->ram_gone[f / BITS] |= 1ull << (f % BITS);
                        continue;
                }
                if (!frame_gone(d, f))
                        continue;
                d->ram_gone[f / BITS] &= ~(1ull << (f % BITS));
                if (d->ram_fd >= 0 &&
                    fallocate(d->ram_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                              (off_t)(f * XS_PAGE_SIZE), XS_PAGE_SIZE) < 0)
                        return -errno;
        }
        return 0;
}

static struct host_map *ram_map_find(struct host_client *c, uint64_t id, uint32_t slot) {
        for (unsigned i = 0; i < c->nr_maps; i++)
                if (c->maps[i].id == id && c->maps[i].frames == HOST_MAP_RAM &&
                    c->maps[i].slot == slot)
                        return &c->maps[i];
        return NULL;
}

/*
 * One run of a xenforeignmemory_map call: frames a1..a1+a2-1 of domain a0, added to mapping
 * a3 of this client (0: a new one, answered with the memfd). The restriction and the domain's
 * existence fail the whole request (privcmd's EPERM, the hypercall's ESRCH); each frame then
 * succeeds or fails on its own.
 */
int host_mem_fm_map(struct host *h, struct host_client *c, uint32_t pid, const uint64_t *a,
                    uint64_t *val, int *ret_fd) {
        struct host_map *m = NULL;
        struct hdom *d;
        int slot, r, fd = -1;

        r = host_ioreq_check_target(h, c, a[0], &slot);
        if (r < 0)
                return r;
        if (a[2] < 1 || a[2] > XS_RAM_RUN)
                return -EINVAL;
        d = h->dom[slot];
        if (a[3]) {
                m = ram_map_find(c, a[3], (uint32_t)slot);
                if (!m)
                        return -EINVAL;
        }
        if (d->state == XS_DOM_DYING) {
                /* Its memory is being released: every frame fails (val stays 0). */
                val[3] = a[3];
                if (m)
                        m->ram_asked += (uint32_t)a[2];
                return 0;
        }
        if (!m) {
                struct host_map *nm;

                if (c->nr_maps >= HOST_MAX_MAPS)
                        return -ENOMEM;
                fd = ram_fd(h, d);
                if (fd < 0)
                        return fd;
                nm = realloc(c->maps, (c->nr_maps + 1) * sizeof(*c->maps));
                if (!nm)
                        return -ENOMEM;
                c->maps = nm;
                m = &c->maps[c->nr_maps++];
                *m = (struct host_map){ .id = ++h->next_map_id, .slot = (uint32_t)slot,
                                        .pid = pid, .frames = HOST_MAP_RAM };
                d->maprefs++;
                *ret_fd = fd;
        }
        for (uint64_t i = 0; i < a[2]; i++) {
                uint64_t f = a[1] + i;
                if (f < a[1] || f >= d->ram_frames || frame_gone(d, f))
                        continue;
                val[i / BITS] |= 1ull << (i % BITS);
                m->ram_mapped++;
        }
        m->ram_asked += (uint32_t)a[2];
        val[3] = m->id;
        return 0;
}
