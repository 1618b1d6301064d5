/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/kcmp.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "store.h"
#include "xenioreqd/protocol.h"

#define STORE_MAGIC             UINT32_C(0x54535258)    /* "XRST" */
#define STORE_VERSION           1u
#define STORE_STATE_NAME        "xirq.state"
#define STORE_FIRST             256u                    /* records in a new memfd */
#define STORE_MAX               (1u << 20)              /* records at most (128 MiB) */

typedef struct StoreHeader {
        uint32_t magic;
        uint32_t version;
        uint32_t record_size;
        uint32_t records;
} StoreHeader;

/* One record, 128 bytes; kind is written last when it is made, first when it goes. */
typedef struct StoreRecord {
        uint32_t kind;
        uint32_t a, b, c, d;            /* guest: domid, server_id, flags; client: guest, uid, gid, pid; ... */
        uint32_t e;                     /* client: the version its HELLO negotiated, 0 before */
        uint8_t space, len;
        uint8_t pad[2];
        uint64_t x, y, z;               /* reg: addr, mask, value */
        char name[STORE_NAME_MAX + 8];  /* guest: its name, NUL-terminated */
} StoreRecord;
_Static_assert(sizeof(StoreRecord) == 128, "StoreRecord size");
_Static_assert(sizeof(StoreHeader) <= sizeof(StoreRecord), "header fits the first record's room");

enum {
        GUEST_STATS     = 1u << 0,
        GUEST_LISTENER  = 1u << 1,
};

#define STORE_IRQFD_RESAMPLE    1u      /* irqfd: c, its resample eventfd is stored too */

/* A descriptor passed back at start, until taken. */
typedef struct StoreFd {
        char kind;
        uint32_t rec;
        int fd;
} StoreFd;

/* An eventfd in use by registrations. */
typedef struct StoreEventfd {
        uint32_t id;
        int fd;
        int64_t kernel_id;              /* "eventfd-id:" of its fdinfo, -1 if the kernel does not say */
        unsigned users;
} StoreEventfd;

struct Store {
        bool enabled;                   /* a service manager keeps descriptors for us */
        int memfd;
        size_t size;
        StoreHeader *header;            /* the mapping */
        StoreRecord *rec;               /* records follow the first 128 bytes */
        uint32_t n;
        uint32_t next_free;             /* a hint: every record below it is in use */
        StoreFd *passed;
        size_t n_passed;
        StoreEventfd *efds;
        size_t n_efds, cap_efds;
        uint32_t next_efd;              /* the next eventfd id */
        bool frozen;
};

static size_t store_bytes(uint32_t n) {
        return sizeof(StoreRecord) * ((size_t) n + 1);
}

static int store_map(Store *s, uint32_t n) {
        void *p;

        p = mmap(NULL, store_bytes(n), PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd, 0);
        if (p == MAP_FAILED)
                return -errno;
        if (s->header)
                (void) munmap(s->header, s->size);
        s->header = p;
        s->rec = (StoreRecord *) ((char *) p + sizeof(StoreRecord));
        s->size = store_bytes(n);
        s->n = n;
        return 0;
}

static int store_new_memfd(Store *s) {
        int r;

        s->memfd = memfd_create("xen-ioreqd-state", MFD_CLOEXEC);
        if (s->memfd < 0)
                return -errno;
        if (ftruncate(s->memfd, (off_t) store_bytes(STORE_FIRST)) < 0)
                return -errno;
        r = store_map(s, STORE_FIRST);
        if (r < 0)
                return r;
        *s->header = (StoreHeader) {
                .magic = STORE_MAGIC,
                .version = STORE_VERSION,
                .record_size = sizeof(StoreRecord),
                .records = STORE_FIRST,
        };
        if (s->enabled) {
                r = sd_pid_notify_with_fds(0, 0, "FDSTORE=1\nFDNAME=" STORE_STATE_NAME, &s->memfd, 1);
                if (r <= 0)
                        s->enabled = false;     /* the service manager keeps nothing for us */
        }
        return 0;
}

/* The memfd passed back: checked before anything in it is believed. */
static int store_adopt_memfd(Store *s, int fd) {
        StoreHeader h;
        struct stat st;

        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t) sizeof(StoreRecord))
                return -EINVAL;
        if (pread(fd, &h, sizeof(h), 0) != (ssize_t) sizeof(h))
                return -EINVAL;
        if (h.magic != STORE_MAGIC || h.version != STORE_VERSION || h.record_size != sizeof(StoreRecord) ||
            h.records == 0 || h.records > STORE_MAX || (off_t) store_bytes(h.records) > st.st_size)
                return -EINVAL;
        s->memfd = fd;
        return store_map(s, h.records);
}

/* "xirq.<kind>.<record>" */
static bool store_parse_name(const char *name, char *ret_kind, uint32_t *ret_rec) {
        char *end;
        unsigned long v;

        if (strncmp(name, "xirq.", 5) != 0 || name[5] == '\0' || !strchr("lscetrgwa", name[5]) || name[6] != '.')
                return false;
        if (name[7] < '0' || name[7] > '9')
                return false;
        errno = 0;
        v = strtoul(name + 7, &end, 10);
        if (errno || *end || v >= STORE_MAX)
                return false;
        *ret_kind = name[5];
        *ret_rec = (uint32_t) v;
        return true;
}

int store_open(Store **ret, const int *fds, char **names, size_t n, bool *ret_restored) {
        Store *s;
        int state = -1, r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->memfd = -1;
        /* the fd store is there when the service manager listens for notifications */
        s->enabled = getenv("NOTIFY_SOCKET") != NULL;

        s->passed = calloc(n ? n : 1, sizeof(*s->passed));
        if (!s->passed) {
                free(s);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                char kind;
                uint32_t rec;

                if (names && names[i] && strcmp(names[i], STORE_STATE_NAME) == 0 && state < 0)
                        state = fds[i];
                else if (names && names[i] && store_parse_name(names[i], &kind, &rec))
                        s->passed[s->n_passed++] = (StoreFd) { .kind = kind, .rec = rec, .fd = fds[i] };
        }

        *ret_restored = false;
        if (state >= 0 && store_adopt_memfd(s, state) == 0)
                *ret_restored = true;
        else {
                if (state >= 0)
                        close(state);
                r = store_new_memfd(s);
                if (r < 0) {
                        store_free(s);
                        return r;
                }
        }
        *ret = s;
        return 0;
}

Store *store_free(Store *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_passed; i++)
                if (s->passed[i].fd >= 0)
                        close(s->passed[i].fd);
        free(s->passed);
        for (size_t i = 0; i < s->n_efds; i++)
                close(s->efds[i].fd);
        free(s->efds);
        if (s->header)
                (void) munmap(s->header, s->size);
        if (s->memfd >= 0)
                close(s->memfd);
        free(s);
        return NULL;
}

bool store_enabled(const Store *s) {
        return s->enabled;
}

uint32_t store_records(const Store *s) {
        return s->n;
}

uint32_t store_kind(const Store *s, uint32_t rec) {
        if (rec >= s->n)
                return STORE_FREE;
        return __atomic_load_n(&s->rec[rec].kind, __ATOMIC_ACQUIRE);
}

/* ---- reading back: checked, as anything read from outside ---- */

int store_get_guest(const Store *s, uint32_t rec, StoreGuest *ret) {
        const StoreRecord *r;

        if (store_kind(s, rec) != STORE_GUEST)
                return -EINVAL;
        r = &s->rec[rec];
        if (strnlen(r->name, sizeof(r->name)) > STORE_NAME_MAX || r->name[0] == '\0')
                return -EINVAL;
        *ret = (StoreGuest) {
                .domid = r->a,
                .server_id = r->b,
                .stats = r->c & GUEST_STATS,
                .listener = r->c & GUEST_LISTENER,
        };
        memcpy(ret->name, r->name, strnlen(r->name, sizeof(r->name)) + 1);
        if ((ret->domid != STORE_NONE && ret->domid >= 0x7ff0u) || (ret->server_id != STORE_NONE && ret->server_id >= 8u))
                return -EINVAL;
        return 0;
}

int store_get_client(const Store *s, uint32_t rec, StoreClient *ret) {
        const StoreRecord *r;

        if (store_kind(s, rec) != STORE_CLIENT)
                return -EINVAL;
        r = &s->rec[rec];
        *ret = (StoreClient) { .guest = r->a, .uid = r->b, .gid = r->c, .pid = r->d, .hello_done = r->e != 0,
                               .version = (uint16_t) r->e };
        if (r->e > 0xffff)
                return -EINVAL;
        return store_kind(s, ret->guest) == STORE_GUEST ? 0 : -EINVAL;
}

int store_get_reg(const Store *s, uint32_t rec, StoreReg *ret) {
        const StoreRecord *r;

        if (store_kind(s, rec) != STORE_REG)
                return -EINVAL;
        r = &s->rec[rec];
        *ret = (StoreReg) {
                .client = r->a,
                .eventfd = r->b,
                .key = { .addr = r->x, .mask = r->y, .value = r->z, .space = r->space, .len = r->len },
        };
        if (store_kind(s, ret->client) != STORE_CLIENT || match_key_check(&ret->key) < 0)
                return -EINVAL;
        return 0;
}

/* The record's fields as the client's request, decoded by the protocol's own checks. */
int store_get_irqfd(const Store *s, uint32_t rec, StoreIrqfd *ret) {
        uint8_t buf[XIRQ_MSG_MAX];
        const StoreRecord *r;
        ProtoRequest req;
        ProtoIrqfd spec;
        size_t n;

        if (store_kind(s, rec) != STORE_IRQFD)
                return -EINVAL;
        r = &s->rec[rec];
        spec = (ProtoIrqfd) {
                .id = r->d,
                .action = r->space,
                .mode = r->len,
                .irq = r->e,
                .segment = (uint16_t) r->y,
                .bus = (uint8_t) (r->y >> 16),
                .device = r->pad[0],
                .pin = r->pad[1],
                .msi_addr = r->x,
                .msi_data = (uint32_t) r->z,
        };
        n = proto_encode_irqfd(buf, 0, &spec, false);
        if (r->c != STORE_IRQFD_RESAMPLE && r->c != 0)
                return -EINVAL;
        if (proto_decode_request(buf, n, r->c ? 2 : 1, &req) < 0 || req.op != PROTO_OP_IRQFD || r->b == 0)
                return -EINVAL;
        *ret = (StoreIrqfd) { .client = r->a, .id = r->b, .spec = req.irqfd };
        return store_kind(s, ret->client) == STORE_CLIENT ? 0 : -EINVAL;
}

int store_get_claim(const Store *s, uint32_t rec, StoreClaim *ret) {
        uint8_t buf[XIRQ_MSG_MAX];
        const StoreRecord *r;
        ProtoRequest req;
        ProtoClaim claim;
        size_t n;

        if (store_kind(s, rec) != STORE_CLAIM)
                return -EINVAL;
        r = &s->rec[rec];
        claim = (ProtoClaim) { .id = r->c, .space = r->space, .addr = r->x, .len = r->y, .deadline_ms = r->d };
        n = proto_encode_claim(buf, 0, &claim);
        if (proto_decode_request(buf, n, 0, &req) < 0 || req.op != PROTO_OP_CLAIM || r->b == 0 ||
            req.claim.deadline_ms == 0)
                return -EINVAL;
        *ret = (StoreClaim) { .client = r->a, .id = r->b, .claim = req.claim };
        return store_kind(s, ret->client) == STORE_CLIENT ? 0 : -EINVAL;
}

/* ---- writing ---- */

/* A free record (grown when needed), its fields zeroed; its kind is stored by the caller, last. */
static StoreRecord *store_alloc(Store *s, uint32_t *ret_rec) {
        uint32_t i;

        if (s->frozen)
                return NULL;
        for (i = s->next_free; i < s->n; i++)
                if (store_kind(s, i) == STORE_FREE)
                        break;
        if (i == s->n) {
                uint32_t n = s->n * 2;

                if (n > STORE_MAX || ftruncate(s->memfd, (off_t) store_bytes(n)) < 0 || store_map(s, n) < 0)
                        return NULL;
                s->header->records = n;
        }
        s->next_free = i + 1;
        memset(&s->rec[i], 0, sizeof(s->rec[i]));
        *ret_rec = i;
        return &s->rec[i];
}

static uint32_t store_commit(StoreRecord *r, uint32_t kind, uint32_t rec) {
        __atomic_store_n(&r->kind, kind, __ATOMIC_RELEASE);
        return rec;
}

/* A descriptor to the service manager, as "xirq.<kind>.<n>". */
static int store_put_fd(Store *s, char kind, uint32_t n, int fd) {
        char msg[64];
        int r;

        if (!s->enabled)
                return 0;
        snprintf(msg, sizeof msg, "FDSTORE=1\nFDNAME=xirq.%c.%u", kind, n);
        r = sd_pid_notify_with_fds(0, 0, msg, &fd, 1);
        return r < 0 ? r : 0;
}

static void store_drop_fd(Store *s, char kind, uint32_t n) {
        char msg[64];

        if (!s->enabled || s->frozen)
                return;
        snprintf(msg, sizeof msg, "FDSTOREREMOVE=1\nFDNAME=xirq.%c.%u", kind, n);
        (void) sd_notify(0, msg);
}

uint32_t store_add_guest(Store *s, const StoreGuest *g, int stats_fd, int listen_fd) {
        uint32_t rec;
        StoreRecord *r = store_alloc(s, &rec);

        if (!r)
                return STORE_NONE;
        r->a = g->domid;
        r->b = g->server_id;
        if (stats_fd >= 0 && store_put_fd(s, 's', rec, stats_fd) == 0)
                r->c |= GUEST_STATS;
        if (listen_fd >= 0 && store_put_fd(s, 'l', rec, listen_fd) == 0)
                r->c |= GUEST_LISTENER;
        snprintf(r->name, sizeof(r->name), "%s", g->name);
        return store_commit(r, STORE_GUEST, rec);
}

uint32_t store_add_client(Store *s, const StoreClient *c, int fd) {
        uint32_t rec;
        StoreRecord *r = store_alloc(s, &rec);

        if (!r)
                return STORE_NONE;
        if (store_put_fd(s, 'c', rec, fd) < 0)
                return STORE_NONE;
        r->a = c->guest;
        r->b = c->uid;
        r->c = c->gid;
        r->d = c->pid;
        r->e = c->hello_done ? c->version : 0;
        return store_commit(r, STORE_CLIENT, rec);
}

uint32_t store_add_irqfd(Store *s, const StoreIrqfd *f, const int *fds, unsigned nfds) {
        uint32_t rec;
        StoreRecord *r;

        if (f->client == STORE_NONE || nfds < 1 || nfds > 2)
                return STORE_NONE;
        r = store_alloc(s, &rec);
        if (!r)
                return STORE_NONE;
        if (store_put_fd(s, 't', rec, fds[0]) < 0 || (nfds == 2 && store_put_fd(s, 'r', rec, fds[1]) < 0)) {
                store_drop_fd(s, 't', rec);
                return STORE_NONE;
        }
        r->a = f->client;
        r->b = f->id;
        r->c = nfds == 2 ? STORE_IRQFD_RESAMPLE : 0;
        r->d = f->spec.id;
        r->e = f->spec.irq;
        r->space = f->spec.action;
        r->len = f->spec.mode;
        r->pad[0] = f->spec.device;
        r->pad[1] = f->spec.pin;
        r->x = f->spec.msi_addr;
        r->y = f->spec.segment | (uint32_t) f->spec.bus << 16;
        r->z = f->spec.msi_data;
        return store_commit(r, STORE_IRQFD, rec);
}

uint32_t store_add_claim(Store *s, const StoreClaim *c, const int fds[3]) {
        uint32_t rec;
        StoreRecord *r;

        if (c->client == STORE_NONE)
                return STORE_NONE;
        r = store_alloc(s, &rec);
        if (!r)
                return STORE_NONE;
        if (store_put_fd(s, 'g', rec, fds[0]) < 0 || store_put_fd(s, 'w', rec, fds[1]) < 0 ||
            store_put_fd(s, 'a', rec, fds[2]) < 0) {
                store_drop_fd(s, 'g', rec);
                store_drop_fd(s, 'w', rec);
                return STORE_NONE;
        }
        r->a = c->client;
        r->b = c->id;
        r->c = c->claim.id;
        r->d = c->claim.deadline_ms;
        r->space = c->claim.space;
        r->x = c->claim.addr;
        r->y = c->claim.len;
        return store_commit(r, STORE_CLAIM, rec);
}

uint32_t store_add_reg(Store *s, const StoreReg *g) {
        uint32_t rec;
        StoreRecord *r;

        if (g->client == STORE_NONE || g->eventfd == STORE_NONE)
                return STORE_NONE;
        r = store_alloc(s, &rec);
        if (!r)
                return STORE_NONE;
        r->a = g->client;
        r->b = g->eventfd;
        r->x = g->key.addr;
        r->y = g->key.mask;
        r->z = g->key.value;
        r->space = g->key.space;
        r->len = g->key.len;
        return store_commit(r, STORE_REG, rec);
}

void store_set_guest_server(Store *s, uint32_t rec, uint32_t domid, uint32_t server_id) {
        if (s->frozen || store_kind(s, rec) != STORE_GUEST)
                return;
        /* the server first: a server id is only ever read with the domid it was set with */
        __atomic_store_n(&s->rec[rec].b, STORE_NONE, __ATOMIC_RELEASE);
        __atomic_store_n(&s->rec[rec].a, domid, __ATOMIC_RELEASE);
        __atomic_store_n(&s->rec[rec].b, server_id, __ATOMIC_RELEASE);
}

void store_set_client_hello(Store *s, uint32_t rec, uint16_t version) {
        if (!s->frozen && store_kind(s, rec) == STORE_CLIENT)
                __atomic_store_n(&s->rec[rec].e, version, __ATOMIC_RELEASE);
}

void store_remove(Store *s, uint32_t rec) {
        uint32_t kind = store_kind(s, rec), flags;

        if (s->frozen || kind == STORE_FREE)
                return;
        flags = s->rec[rec].c;
        __atomic_store_n(&s->rec[rec].kind, STORE_FREE, __ATOMIC_RELEASE);
        if (rec < s->next_free)
                s->next_free = rec;
        if (kind == STORE_CLIENT)
                store_drop_fd(s, 'c', rec);
        else if (kind == STORE_IRQFD) {
                store_drop_fd(s, 't', rec);
                if (flags & STORE_IRQFD_RESAMPLE)
                        store_drop_fd(s, 'r', rec);
        } else if (kind == STORE_CLAIM) {
                store_drop_fd(s, 'g', rec);
                store_drop_fd(s, 'w', rec);
                store_drop_fd(s, 'a', rec);
        }
        else if (kind == STORE_GUEST) {
                if (flags & GUEST_STATS)
                        store_drop_fd(s, 's', rec);
                if (flags & GUEST_LISTENER)
                        store_drop_fd(s, 'l', rec);
        }
}

/* ---- eventfds ---- */

/* The kernel's id of an eventfd (Linux shows it in fdinfo), -1 if it does not say. */
static int64_t eventfd_kernel_id(int fd) {
        char path[64], buf[512];
        const char *p;
        ssize_t n;
        int f;

        snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
        f = open(path, O_RDONLY | O_CLOEXEC);
        if (f < 0)
                return -1;
        n = read(f, buf, sizeof(buf) - 1);
        close(f);
        if (n <= 0)
                return -1;
        buf[n] = '\0';
        p = strstr(buf, "eventfd-id:");
        return p ? (int64_t) strtoll(p + 11, NULL, 10) : -1;
}

/* Are a and b one file description? */
static bool same_description(int a, int b) {
        pid_t pid = getpid();

        return syscall(SYS_kcmp, pid, pid, KCMP_FILE, a, b) == 0;
}

static StoreEventfd *store_eventfd_find(Store *s, uint32_t id) {
        for (size_t i = 0; i < s->n_efds; i++)
                if (s->efds[i].id == id)
                        return &s->efds[i];
        return NULL;
}

static StoreEventfd *store_eventfd_new(Store *s, uint32_t id, int fd, int64_t kernel_id) {
        StoreEventfd *e;

        if (s->n_efds == s->cap_efds) {
                size_t cap = s->cap_efds ? 2 * s->cap_efds : 16;
                StoreEventfd *n = reallocarray(s->efds, cap, sizeof(*n));

                if (!n)
                        return NULL;
                s->efds = n;
                s->cap_efds = cap;
        }
        e = &s->efds[s->n_efds++];
        *e = (StoreEventfd) { .id = id, .fd = fd, .kernel_id = kernel_id, .users = 1 };
        if (id >= s->next_efd)
                s->next_efd = id + 1;
        return e;
}

int store_eventfd_add(Store *s, int fd, uint32_t *ret_id) {
        int64_t kid = eventfd_kernel_id(fd);
        StoreEventfd *e;

        for (size_t i = 0; i < s->n_efds; i++) {
                e = &s->efds[i];
                if (kid >= 0 && e->kernel_id >= 0 ? kid == e->kernel_id : same_description(fd, e->fd)) {
                        /* one more registration of an eventfd already kept */
                        close(fd);
                        e->users++;
                        *ret_id = e->id;
                        return e->fd;
                }
        }
        e = store_eventfd_new(s, s->next_efd, fd, kid);
        if (!e) {
                close(fd);
                return -ENOMEM;
        }
        /* not kept by the service manager: served all the same, lost at a restart */
        (void) store_put_fd(s, 'e', e->id, fd);
        *ret_id = e->id;
        return fd;
}

void store_eventfd_unref(Store *s, uint32_t id) {
        StoreEventfd *e = store_eventfd_find(s, id);

        if (!e || --e->users > 0)
                return;
        close(e->fd);
        store_drop_fd(s, 'e', id);
        *e = s->efds[--s->n_efds];
}

int store_eventfd_restore(Store *s, uint32_t id) {
        StoreEventfd *e = store_eventfd_find(s, id);

        if (e) {
                e->users++;
                return e->fd;
        }
        for (size_t i = 0; i < s->n_passed; i++)
                if (s->passed[i].kind == 'e' && s->passed[i].rec == id && s->passed[i].fd >= 0) {
                        int fd = s->passed[i].fd;

                        e = store_eventfd_new(s, id, fd, eventfd_kernel_id(fd));
                        if (!e)
                                return -1;
                        s->passed[i].fd = -1;
                        return fd;
                }
        return -1;
}

/* ---- start and end ---- */

int store_take_fd(Store *s, char kind, uint32_t rec) {
        for (size_t i = 0; i < s->n_passed; i++)
                if (s->passed[i].kind == kind && s->passed[i].rec == rec && s->passed[i].fd >= 0) {
                        int fd = s->passed[i].fd;

                        s->passed[i].fd = -1;
                        return fd;
                }
        return -1;
}

void store_release_untaken(Store *s) {
        for (size_t i = 0; i < s->n_passed; i++)
                if (s->passed[i].fd >= 0) {
                        close(s->passed[i].fd);
                        s->passed[i].fd = -1;
                        store_drop_fd(s, s->passed[i].kind, s->passed[i].rec);
                }
        s->n_passed = 0;
}

void store_freeze(Store *s) {
        s->frozen = true;
}

bool store_frozen(const Store *s) {
        return s->frozen;
}

void store_clear(Store *s) {
        if (s->frozen)
                return;
        for (uint32_t i = 0; i < s->n; i++)
                store_remove(s, i);
        s->next_free = 0;
        if (s->enabled)
                (void) sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=" STORE_STATE_NAME);
        s->frozen = true;
}
