/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Registration table: two open-addressing hash tables with linear probing,
 * power-of-two capacities, backward-shift deletion, plus direct arrays for
 * small values.
 *
 *   addrs  pointers to one AddrEntry per (space, addr) in use, at most 1/8
 *          full so that the probe for the address is nearly always the first:
 *          its len (overlap rules make (space, addr) determine it), the
 *          distinct masks registered there (at most MATCH_MAX_MASKS) and the
 *          list of its registrations.
 *   dense  per (address, mask): the registrations whose value is below
 *          MATCH_DENSE_MAX, indexed by value.  Virtio queue indexes are
 *          small, so a kick is found without hashing its data, in the same
 *          number of instructions whatever the number of registrations.
 *   regs   one slot per registration, a pointer to its Reg, hashed on
 *          (space, addr, mask, value), at most 1/4 full: used by lookup for
 *          values of MATCH_DENSE_MAX and above, and by find/remove.
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
#define MATCH_DENSE_MAX 256u    /* values below this are in the dense arrays */
#define DENSE_MIN       8u

typedef struct Reg Reg;
struct Reg {
        MatchKey key;
        void *userdata;
        Reg *next;              /* registrations of the same address */
        Reg *prev;
};

typedef struct MaskEntry {
        uint64_t mask;
        uint32_t refs;          /* registrations with this mask */
        uint32_t dense_len;     /* values < dense_len are indexed in dense */
        Reg **dense;
} MaskEntry;

typedef struct AddrEntry {
        uint64_t addr;
        uint8_t space;
        uint8_t len;
        uint8_t nmasks;
        uint32_t nregs;
        Reg *head;
        MaskEntry m[MATCH_MAX_MASKS];
} AddrEntry;

struct MatchTable {
        uint64_t seed;
        AddrEntry **addrs;
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
        /* x86 port I/O is at most 4 bytes: an 8-byte port registration could never match */
        if (key->space == XIRQ_SPACE_PIO && (key->len > 4 || key->addr + key->len > 0x10000))
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

static void addr_entry_free(AddrEntry *e) {
        if (!e)
                return;
        for (unsigned k = 0; k < MATCH_MAX_MASKS; k++)
                free(e->m[k].dense);
        free(e);
}

MatchTable *match_table_free(MatchTable *t) {
        if (!t)
                return NULL;
        if (t->regs)
                for (size_t i = 0; i < t->reg_cap; i++)
                        free(t->regs[i]);
        if (t->addrs)
                for (size_t i = 0; i < t->addr_cap; i++)
                        addr_entry_free(t->addrs[i]);
        free(t->regs);
        free(t->addrs);
        free(t);
        return NULL;
}

/* ---- address table ---- */

static AddrEntry **addr_find(const MatchTable *t, uint8_t space, uint64_t addr) {
        size_t m = t->addr_cap - 1;
        size_t i = addr_hash(t, space, addr) & m;

        for (;;) {
                AddrEntry *e = t->addrs[i];
                if (!e)
                        return NULL;
                if (e->addr == addr && e->space == space)
                        return &t->addrs[i];
                i = (i + 1) & m;
        }
}

static void addr_insert_slot(AddrEntry **tab, size_t cap, const MatchTable *t, AddrEntry *e) {
        size_t m = cap - 1;
        size_t i = addr_hash(t, e->space, e->addr) & m;

        while (tab[i])
                i = (i + 1) & m;
        tab[i] = e;
}

static int addr_resize(MatchTable *t, size_t cap) {
        AddrEntry **n = calloc(cap, sizeof(*n));

        if (!n)
                return -ENOMEM;
        for (size_t i = 0; i < t->addr_cap; i++)
                if (t->addrs[i])
                        addr_insert_slot(n, cap, t, t->addrs[i]);
        free(t->addrs);
        t->addrs = n;
        t->addr_cap = cap;
        return 0;
}

static void addr_delete(MatchTable *t, AddrEntry **slot) {
        size_t m = t->addr_cap - 1;
        size_t hole = (size_t) (slot - t->addrs);
        size_t i = hole;

        /* backward-shift: move later members of the cluster into the hole
         * when their home slot is not in (hole, i] */
        for (;;) {
                size_t home;
                i = (i + 1) & m;
                if (!t->addrs[i])
                        break;
                home = addr_hash(t, t->addrs[i]->space, t->addrs[i]->addr) & m;
                if (((i - home) & m) >= ((i - hole) & m)) {
                        t->addrs[hole] = t->addrs[i];
                        hole = i;
                }
        }
        t->addrs[hole] = NULL;
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
        size_t am = t->addr_cap - 1;
        size_t i = h & am;
        const AddrEntry *e;

        for (;;) {
                e = t->addrs[i];
                if (!e)
                        return NULL;
                if (e->addr == addr && e->space == space)
                        break;
                i = (i + 1) & am;
        }
        if (e->len != size)
                return NULL;

        for (unsigned k = 0; k < e->nmasks; k++) {
                const MaskEntry *me = &e->m[k];
                uint64_t value = data & me->mask;
                size_t rm, j;

                if (value < MATCH_DENSE_MAX) {
                        /* every registration with a small value is in dense */
                        if (value < me->dense_len && me->dense[value])
                                return me->dense[value]->userdata;
                        continue;
                }
                rm = t->reg_cap - 1;
                j = reg_hash(h, me->mask, value) & rm;
                for (;;) {
                        const Reg *r = t->regs[j];
                        if (!r)
                                break;
                        if (r->key.addr == addr && r->key.value == value && r->key.mask == me->mask &&
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
                AddrEntry **slot = addr_find(t, k->space, a);
                if (slot && !(a == k->addr && (*slot)->len == k->len) &&
                    ranges_overlap(a, (*slot)->len, k->addr, k->len))
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

/* Make dense (of dense_len entries) hold index value; the new part is zeroed. */
static int dense_grow(Reg ***dense, uint32_t *dense_len, uint64_t value) {
        uint32_t n = DENSE_MIN;
        Reg **d;

        while (n <= value)
                n *= 2;
        if (n <= *dense_len)
                return 0;
        d = realloc(*dense, n * sizeof(*d));
        if (!d)
                return -ENOMEM;
        memset(d + *dense_len, 0, (n - *dense_len) * sizeof(*d));
        *dense = d;
        *dense_len = n;
        return 0;
}

int match_add(MatchTable *t, const MatchKey *key, void *userdata, bool *ret_new_range) {
        AddrEntry **slot, *e = NULL, *fresh = NULL;
        Reg *r;
        unsigned mi = 0;
        bool new_mask = true, new_range;
        int rc;

        if (!t || !userdata || match_key_check(key) < 0)
                return -EINVAL;
        if (overlaps_other(t, key))
                return -EEXIST;

        slot = addr_find(t, key->space, key->addr);
        new_range = !slot;
        if (slot) {
                e = *slot;
                /* same address and no overlap: same len */
                for (mi = 0; mi < e->nmasks; mi++)
                        if (e->m[mi].mask == key->mask) {
                                new_mask = false;
                                break;
                        }
                if (reg_find(t, key))
                        return -EEXIST;
                /* a mask that is a subset of the new one: one probe finds the
                 * only possible intersecting registration; otherwise walk
                 * the registrations of this address */
                for (unsigned k = 0; k < e->nmasks; k++) {
                        uint64_t m2 = e->m[k].mask;
                        if (m2 == key->mask)
                                continue;       /* equal masks intersect only if equal keys */
                        if ((m2 & ~key->mask) == 0) {
                                MatchKey probe = *key;
                                probe.mask = m2;
                                probe.value = key->value & m2;
                                if (reg_find(t, &probe))
                                        return -EEXIST;
                        } else {
                                for (const Reg *o = e->head; o; o = o->next)
                                        if (o->key.mask == m2 &&
                                            sets_intersect(key->mask, key->value, m2, o->key.value))
                                                return -EEXIST;
                        }
                }
                if (new_mask && e->nmasks >= MATCH_MAX_MASKS)
                        return -ENOSPC;
        }
        if (new_range && t->ranges[key->space] >= MATCH_MAX_RANGES)
                return -ENOSPC;
        if (t->reg_count >= MATCH_MAX_ENTRIES)
                return -ENOSPC;

        /* allocate everything first, so that nothing can fail after the insertion */
        if ((t->reg_count + 1) * 4 > t->reg_cap) {
                rc = reg_resize(t, t->reg_cap * 2);
                if (rc < 0)
                        return rc;
        }
        if (new_range && (t->addr_count + 1) * 8 > t->addr_cap) {
                rc = addr_resize(t, t->addr_cap * 2);
                if (rc < 0)
                        return rc;
        }
        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        if (new_range) {
                e = fresh = calloc(1, sizeof(*e));
                if (!e) {
                        free(r);
                        return -ENOMEM;
                }
                e->space = key->space;
                e->addr = key->addr;
                e->len = key->len;
                mi = 0;
        } else if (new_mask) {
                mi = e->nmasks;
        }
        if (key->value < MATCH_DENSE_MAX) {
                /* a new mask's entry is unused: its dense is NULL, length 0 */
                rc = dense_grow(&e->m[mi].dense, &e->m[mi].dense_len, key->value);
                if (rc < 0) {
                        free(r);
                        free(fresh);
                        return rc;
                }
        }

        /* commit */
        r->key = *key;
        r->userdata = userdata;
        if (new_range) {
                addr_insert_slot(t->addrs, t->addr_cap, t, e);
                t->addr_count++;
                t->ranges[key->space]++;
        }
        if (new_mask) {
                e->nmasks++;
                e->m[mi].mask = key->mask;
                e->m[mi].refs = 0;
        }
        e->m[mi].refs++;
        if (key->value < MATCH_DENSE_MAX)
                e->m[mi].dense[key->value] = r;
        r->next = e->head;
        if (e->head)
                e->head->prev = r;
        e->head = r;
        e->nregs++;

        reg_insert_slot(t->regs, t->reg_cap, t, r);
        t->reg_count++;

        if (ret_new_range)
                *ret_new_range = new_range;
        return 0;
}

int match_remove(MatchTable *t, const MatchKey *key, void **ret_userdata, bool *ret_range_unused) {
        Reg **slot, *r;
        AddrEntry **aslot, *e;
        bool unused = false;

        if (!t || match_key_check(key) < 0)
                return -EINVAL;
        slot = reg_find(t, key);
        if (!slot)
                return -ENOENT;
        r = *slot;
        aslot = addr_find(t, key->space, key->addr);
        e = *aslot;     /* every registration has its address entry */
        reg_delete(t, slot);

        if (r->prev)
                r->prev->next = r->next;
        else
                e->head = r->next;
        if (r->next)
                r->next->prev = r->prev;
        e->nregs--;
        for (unsigned k = 0; k < e->nmasks; k++) {
                MaskEntry *me = &e->m[k];
                if (me->mask != key->mask)
                        continue;
                if (key->value < me->dense_len)
                        me->dense[key->value] = NULL;
                if (--me->refs == 0) {
                        free(me->dense);
                        e->nmasks--;
                        *me = e->m[e->nmasks];
                        memset(&e->m[e->nmasks], 0, sizeof(e->m[e->nmasks]));
                }
                break;
        }
        if (e->nregs == 0) {
                t->ranges[key->space]--;
                addr_delete(t, aslot);
                addr_entry_free(e);
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
        if (t->addr_cap > TABLE_MIN && t->addr_count * 32 < t->addr_cap)
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
