/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Registration table: two open-addressing hash tables with linear probing,
 * power-of-two capacities kept at most 1/4 full, backward-shift deletion.
 *
 *   addrs  one slot per (space, addr) in use: its len, the distinct masks
 *          registered there (at most MATCH_MAX_MASKS) and the list of its
 *          registrations.  Overlap rules make (space, addr) determine len.
 *   regs   one slot per registration, a pointer to its Reg, hashed on
 *          (space, addr, mask, value).
 *
 * Data sets of two registrations at one address never intersect (add refuses
 * it), so at most one registration matches a write and the order in which
 * lookup tries the masks does not matter.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "xenioreqd/protocol.h"
#include "match.h"

#define TABLE_MIN       16u

typedef struct Reg Reg;
struct Reg {
        MatchKey key;
        void *userdata;
        Reg *next;              /* registrations of the same address */
        Reg *prev;
};

typedef struct AddrSlot {
        uint64_t addr;
        uint64_t masks[MATCH_MAX_MASKS];
        uint32_t mask_refs[MATCH_MAX_MASKS];
        Reg *head;
        uint32_t nregs;
        uint8_t space;          /* 0: free slot */
        uint8_t len;
        uint8_t nmasks;
} AddrSlot;

struct MatchTable {
        uint64_t seed;
        AddrSlot *addrs;
        size_t addr_cap;        /* power of two */
        size_t addr_count;
        Reg **regs;
        size_t reg_cap;         /* power of two */
        size_t reg_count;
        unsigned ranges[3];     /* by space */
};

static inline uint64_t mix64(uint64_t x) {
        x ^= x >> 32;
        x *= UINT64_C(0xd6e8feb86659fd93);
        x ^= x >> 32;
        x *= UINT64_C(0xd6e8feb86659fd93);
        x ^= x >> 32;
        return x;
}

static inline uint64_t addr_hash(const MatchTable *t, uint8_t space, uint64_t addr) {
        return mix64(addr ^ t->seed ^ ((uint64_t) space << 59));
}

/* For a fixed mask, (masked value → input) is injective: only the at most
 * MATCH_MAX_MASKS masks of one address can produce equal inputs. */
static inline uint64_t reg_hash(uint64_t h_addr, uint64_t mask, uint64_t value) {
        return mix64(h_addr ^ value ^ (mask * UINT64_C(0x9e3779b97f4a7c15)));
}

uint64_t match_len_mask(unsigned len) {
        switch (len) {
        case 1: return UINT64_C(0xff);
        case 2: return UINT64_C(0xffff);
        case 4: return UINT64_C(0xffffffff);
        case 8: return UINT64_MAX;
        default: return 0;
        }
}

int match_key_check(const MatchKey *key) {
        uint64_t lm;

        if (!key)
                return -EINVAL;
        if (key->space != XIRQ_SPACE_MMIO && key->space != XIRQ_SPACE_PIO)
                return -EINVAL;
        lm = match_len_mask(key->len);
        if (lm == 0)
                return -EINVAL;
        if (key->addr > UINT64_MAX - (key->len - 1))
                return -EINVAL;
        if (key->space == XIRQ_SPACE_PIO && key->addr + key->len > 0x10000)
                return -EINVAL;
        if ((key->mask & ~lm) != 0 || (key->value & ~key->mask) != 0)
                return -EINVAL;
        return 0;
}

static uint64_t make_seed(void) {
        uint64_t s = 0;
        struct timespec ts;

        if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t) sizeof(s))
                return s;
        /* no entropy yet: still unpredictable enough to a client */
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return mix64((uint64_t) ts.tv_nsec ^ ((uint64_t) ts.tv_sec << 30) ^ ((uint64_t) getpid() << 48) ^
                     (uint64_t) (uintptr_t) &s);
}

int match_table_new(MatchTable **ret) {
        MatchTable *t;

        if (!ret)
                return -EINVAL;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->seed = make_seed();
        t->addr_cap = TABLE_MIN;
        t->addrs = calloc(t->addr_cap, sizeof(*t->addrs));
        t->reg_cap = TABLE_MIN;
        t->regs = calloc(t->reg_cap, sizeof(*t->regs));
        if (!t->addrs || !t->regs) {
                match_table_free(t);
                return -ENOMEM;
        }
        *ret = t;
        return 0;
}

MatchTable *match_table_free(MatchTable *t) {
        if (!t)
                return NULL;
        if (t->regs)
                for (size_t i = 0; i < t->reg_cap; i++)
                        free(t->regs[i]);
        free(t->regs);
        free(t->addrs);
        free(t);
        return NULL;
}

/* ---- address table ---- */

static AddrSlot *addr_find(const MatchTable *t, uint8_t space, uint64_t addr) {
        size_t m = t->addr_cap - 1;
        size_t i = addr_hash(t, space, addr) & m;

        for (;;) {
                AddrSlot *s = &t->addrs[i];
                if (s->space == 0)
                        return NULL;
                if (s->addr == addr && s->space == space)
                        return s;
                i = (i + 1) & m;
        }
}

static AddrSlot *addr_insert_slot(AddrSlot *tab, size_t cap, const MatchTable *t, uint8_t space, uint64_t addr) {
        size_t m = cap - 1;
        size_t i = addr_hash(t, space, addr) & m;

        while (tab[i].space != 0)
                i = (i + 1) & m;
        return &tab[i];
}

static int addr_resize(MatchTable *t, size_t cap) {
        AddrSlot *n = calloc(cap, sizeof(*n));

        if (!n)
                return -ENOMEM;
        for (size_t i = 0; i < t->addr_cap; i++)
                if (t->addrs[i].space != 0)
                        *addr_insert_slot(n, cap, t, t->addrs[i].space, t->addrs[i].addr) = t->addrs[i];
        free(t->addrs);
        t->addrs = n;
        t->addr_cap = cap;
        return 0;
}

static void addr_delete(MatchTable *t, AddrSlot *s) {
        size_t m = t->addr_cap - 1;
        size_t hole = (size_t) (s - t->addrs);
        size_t i = hole;

        /* backward-shift: move later members of the cluster into the hole
         * when their home slot is not in (hole, i] */
        for (;;) {
                size_t home;
                i = (i + 1) & m;
                if (t->addrs[i].space == 0)
                        break;
                home = addr_hash(t, t->addrs[i].space, t->addrs[i].addr) & m;
                if (((i - home) & m) >= ((i - hole) & m)) {
                        t->addrs[hole] = t->addrs[i];
                        hole = i;
                }
        }
        memset(&t->addrs[hole], 0, sizeof(t->addrs[hole]));
        t->addr_count--;
}

/* ---- registration table ---- */

static inline size_t reg_home(const MatchTable *t, const MatchKey *k) {
        return reg_hash(addr_hash(t, k->space, k->addr), k->mask, k->value) & (t->reg_cap - 1);
}

static inline bool key_equal(const MatchKey *a, const MatchKey *b) {
        return a->addr == b->addr && a->mask == b->mask && a->value == b->value && a->space == b->space &&
               a->len == b->len;
}

static Reg **reg_find(const MatchTable *t, const MatchKey *k) {
        size_t m = t->reg_cap - 1;
        size_t i = reg_home(t, k);

        for (;;) {
                Reg *r = t->regs[i];
                if (!r)
                        return NULL;
                if (key_equal(&r->key, k))
                        return &t->regs[i];
                i = (i + 1) & m;
        }
}

static void reg_insert_slot(Reg **tab, size_t cap, const MatchTable *t, Reg *r) {
        size_t m = cap - 1;
        size_t i = reg_hash(addr_hash(t, r->key.space, r->key.addr), r->key.mask, r->key.value) & m;

        while (tab[i])
                i = (i + 1) & m;
        tab[i] = r;
}

static int reg_resize(MatchTable *t, size_t cap) {
        Reg **n = calloc(cap, sizeof(*n));

        if (!n)
                return -ENOMEM;
        for (size_t i = 0; i < t->reg_cap; i++)
                if (t->regs[i])
                        reg_insert_slot(n, cap, t, t->regs[i]);
        free(t->regs);
        t->regs = n;
        t->reg_cap = cap;
        return 0;
}

static void reg_delete(MatchTable *t, Reg **slot) {
        size_t m = t->reg_cap - 1;
        size_t hole = (size_t) (slot - t->regs);
        size_t i = hole;

        for (;;) {
                size_t home;
                i = (i + 1) & m;
                if (!t->regs[i])
                        break;
                home = reg_home(t, &t->regs[i]->key);
                if (((i - home) & m) >= ((i - hole) & m)) {
                        t->regs[hole] = t->regs[i];
                        hole = i;
                }
        }
        t->regs[hole] = NULL;
        t->reg_count--;
}

/* ---- API ---- */

void *match_find(const MatchTable *t, const MatchKey *key) {
        Reg **slot;

        if (!t || !key)
                return NULL;
        slot = reg_find(t, key);
        return slot ? (*slot)->userdata : NULL;
}

void *match_lookup(const MatchTable *t, uint8_t space, uint64_t addr, uint8_t size, uint64_t data) {
        uint64_t h = addr_hash(t, space, addr);
        size_t am = t->addr_cap - 1, rm = t->reg_cap - 1;
        size_t i = h & am;
        const AddrSlot *s;

        for (;;) {
                s = &t->addrs[i];
                if (s->space == 0)
                        return NULL;
                if (s->addr == addr && s->space == space)
                        break;
                i = (i + 1) & am;
        }
        if (s->len != size)
                return NULL;

        for (unsigned k = 0; k < s->nmasks; k++) {
                uint64_t mask = s->masks[k];
                uint64_t value = data & mask;
                size_t j = reg_hash(h, mask, value) & rm;

                for (;;) {
                        const Reg *r = t->regs[j];
                        if (!r)
                                break;
                        if (r->key.addr == addr && r->key.value == value && r->key.mask == mask &&
                            r->key.space == space)
                                return r->userdata;
                        j = (j + 1) & rm;
                }
        }
        return NULL;
}

static bool ranges_overlap(uint64_t a, unsigned alen, uint64_t b, unsigned blen) {
        /* no wrap: match_key_check() guarantees a + alen - 1 does not overflow */
        return a <= b + (blen - 1) && b <= a + (alen - 1);
}

/* Is there a range of another (addr, len) overlapping [addr, addr + len)? */
static bool overlaps_other(const MatchTable *t, const MatchKey *k) {
        /* ranges are at most 8 bytes: their start is within 7 bytes before */
        uint64_t first = k->addr >= 7 ? k->addr - 7 : 0;
        uint64_t last = k->addr + (k->len - 1);

        for (uint64_t a = first;; a++) {
                const AddrSlot *s = addr_find(t, k->space, a);
                if (s && !(a == k->addr && s->len == k->len) && ranges_overlap(a, s->len, k->addr, k->len))
                        return true;
                if (a == last)
                        break;
        }
        return false;
}

/* Do the data sets of two registrations at one address intersect? */
static inline bool sets_intersect(uint64_t m1, uint64_t v1, uint64_t m2, uint64_t v2) {
        return ((v1 ^ v2) & m1 & m2) == 0;
}

int match_add(MatchTable *t, const MatchKey *key, void *userdata, bool *ret_new_range) {
        AddrSlot *s;
        Reg *r;
        unsigned mi;
        bool new_mask = true, new_range;
        int rc;

        if (!t || !userdata || match_key_check(key) < 0)
                return -EINVAL;
        if (overlaps_other(t, key))
                return -EEXIST;

        s = addr_find(t, key->space, key->addr);
        new_range = !s;
        if (s) {
                /* same address and no overlap: same len */
                for (mi = 0; mi < s->nmasks; mi++)
                        if (s->masks[mi] == key->mask) {
                                new_mask = false;
                                break;
                        }
                if (reg_find(t, key))
                        return -EEXIST;
                /* a mask that is a subset of the new one: one probe finds the
                 * only possible intersecting registration; otherwise walk
                 * the registrations of this address */
                for (unsigned k = 0; k < s->nmasks; k++) {
                        uint64_t m2 = s->masks[k];
                        if (m2 == key->mask)
                                continue;       /* equal masks intersect only if equal keys */
                        if ((m2 & ~key->mask) == 0) {
                                MatchKey probe = *key;
                                probe.mask = m2;
                                probe.value = key->value & m2;
                                if (reg_find(t, &probe))
                                        return -EEXIST;
                        } else {
                                for (const Reg *o = s->head; o; o = o->next)
                                        if (o->key.mask == m2 &&
                                            sets_intersect(key->mask, key->value, m2, o->key.value))
                                                return -EEXIST;
                        }
                }
                if (new_mask && s->nmasks >= MATCH_MAX_MASKS)
                        return -ENOSPC;
        }
        if (new_range && t->ranges[key->space] >= MATCH_MAX_RANGES)
                return -ENOSPC;
        if (t->reg_count >= MATCH_MAX_ENTRIES)
                return -ENOSPC;

        /* grow first, so that nothing can fail after the insertion */
        if ((t->reg_count + 1) * 4 > t->reg_cap) {
                rc = reg_resize(t, t->reg_cap * 2);
                if (rc < 0)
                        return rc;
        }
        if (new_range && (t->addr_count + 1) * 4 > t->addr_cap) {
                rc = addr_resize(t, t->addr_cap * 2);
                if (rc < 0)
                        return rc;
        }
        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->key = *key;
        r->userdata = userdata;

        if (new_range) {
                s = addr_insert_slot(t->addrs, t->addr_cap, t, key->space, key->addr);
                s->space = key->space;
                s->addr = key->addr;
                s->len = key->len;
                t->addr_count++;
                t->ranges[key->space]++;
        }
        if (new_mask) {
                mi = s->nmasks++;
                s->masks[mi] = key->mask;
                s->mask_refs[mi] = 0;
        }
        s->mask_refs[mi]++;
        r->next = s->head;
        if (s->head)
                s->head->prev = r;
        s->head = r;
        s->nregs++;

        reg_insert_slot(t->regs, t->reg_cap, t, r);
        t->reg_count++;

        if (ret_new_range)
                *ret_new_range = new_range;
        return 0;
}

int match_remove(MatchTable *t, const MatchKey *key, void **ret_userdata, bool *ret_range_unused) {
        Reg **slot, *r;
        AddrSlot *s;
        bool unused = false;

        if (!t || match_key_check(key) < 0)
                return -EINVAL;
        slot = reg_find(t, key);
        if (!slot)
                return -ENOENT;
        r = *slot;
        s = addr_find(t, key->space, key->addr);
        /* s exists: every registration has its address slot */
        reg_delete(t, slot);

        if (r->prev)
                r->prev->next = r->next;
        else
                s->head = r->next;
        if (r->next)
                r->next->prev = r->prev;
        s->nregs--;
        for (unsigned k = 0; k < s->nmasks; k++)
                if (s->masks[k] == key->mask) {
                        if (--s->mask_refs[k] == 0) {
                                s->nmasks--;
                                s->masks[k] = s->masks[s->nmasks];
                                s->mask_refs[k] = s->mask_refs[s->nmasks];
                                s->masks[s->nmasks] = 0;
                                s->mask_refs[s->nmasks] = 0;
                        }
                        break;
                }
        if (s->nregs == 0) {
                t->ranges[key->space]--;
                addr_delete(t, s);
                unused = true;
        }

        if (ret_userdata)
                *ret_userdata = r->userdata;
        if (ret_range_unused)
                *ret_range_unused = unused;
        free(r);

        /* shrink, best effort */
        if (t->reg_cap > TABLE_MIN && t->reg_count * 16 < t->reg_cap)
                (void) reg_resize(t, t->reg_cap / 2);
        if (t->addr_cap > TABLE_MIN && t->addr_count * 16 < t->addr_cap)
                (void) addr_resize(t, t->addr_cap / 2);
        return 0;
}

unsigned match_count(const MatchTable *t) {
        return t ? (unsigned) t->reg_count : 0;
}

unsigned match_ranges(const MatchTable *t, uint8_t space) {
        if (!t || (space != XIRQ_SPACE_MMIO && space != XIRQ_SPACE_PIO))
                return 0;
        return t->ranges[space];
}

int match_foreach(const MatchTable *t, int (*cb)(const MatchKey *key, void *userdata, void *ctx), void *ctx) {
        if (!t || !cb)
                return -EINVAL;
        for (size_t i = 0; i < t->reg_cap; i++)
                if (t->regs[i]) {
                        int r = cb(&t->regs[i]->key, t->regs[i]->userdata, ctx);
                        if (r != 0)
                                return r;
                }
        return 0;
}
