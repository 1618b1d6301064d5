/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim-guest.h - the guest driver of xensim.
 *
 * A program linked with libxensim-guest acts as the toolstack of the simulated host (create and
 * destroy domains, list them, show their ioreq servers) and as the vCPUs of its guests: it
 * issues MMIO and port I/O accesses exactly the way Xen 4.17 hands them to an ioreq server
 * (slot filled, state IOREQ_READY, notify the server's vp_eport, the vCPU blocked until
 * IORESP_READY + notify, slot back to IOREQ_NONE), and it can break the protocol on purpose
 * (fault injection) to test how an ioreq server copes.
 *
 * The host is found through the directory given to xsg_open() or, when that is NULL, through
 * the environment variable XENSIM_DIR (the host's control socket is DIR/host.sock).
 *
 * All functions return 0 (or a count where documented) on success and a negative errno on
 * failure. Errors shared by every function that names a domain or a vCPU:
 *   -ESRCH      no such domain (never created, or destroyed)
 *   -EHOSTDOWN  the domain has crashed (Xen's domain_crash: an ioreq server wrote an invalid
 *               slot state) or is shutting down (xsg_domain_poweroff); its vCPUs issue
 *               nothing more
 *   -ENXIO      vCPU id >= the domain's number of vCPUs
 *   -EBUSY      that vCPU is already executing an access (one access per vCPU at a time;
 *               a vCPU may be driven by any thread or process, but only by one at a time)
 *   -ETIMEDOUT  the vCPU was not answered within the timeout: it is hung (struct xsg_io
 *               tells the slot state it was left in). As on Xen it stays blocked: its next
 *               access first waits (within its own timeout) for the missing answer, and
 *               sends its own request only once an event delivered that answer.
 *   -EAGAIN     the domain is paused (created with XSG_CREATE_PAUSED, not unpaused yet)
 *   -ENOTCONN   the host went away
 * A handle may be used by several threads at once (one vCPU per thread).
 */
#ifndef XENSIM_GUEST_H
#define XENSIM_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xen/hvm/ioreq.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsg xsg;

#define XSG_NAME_MAX 63            /* longest domain name */
#define XSG_MAX_VCPUS 128          /* vCPUs per domain: one ioreq page */
#define XSG_MAX_SERVERS 8          /* ioreq servers per domain (Xen 4.17) */
#define XSG_MAX_RANGES 256         /* ranges per type per server (Xen 4.17) */

/* Address spaces, equal to Xen's IOREQ_TYPE_PIO / IOREQ_TYPE_COPY. */
enum { XSG_PIO = IOREQ_TYPE_PIO, XSG_MMIO = IOREQ_TYPE_COPY };
/* Directions, equal to Xen's IOREQ_WRITE / IOREQ_READ. */
enum { XSG_WRITE = IOREQ_WRITE, XSG_READ = IOREQ_READ };

/* Default bound on every wait for an answer, in milliseconds. */
#define XSG_DEFAULT_TIMEOUT_MS 5000

/* ---- connection ---- */

/* Connect to the host in dir (NULL: $XENSIM_DIR). */
int xsg_open(xsg **ret, const char *dir);
/* Close; accepts NULL; returns NULL. */
xsg *xsg_close(xsg *g);

/* ---- toolstack ---- */

enum xsg_domain_state {
        XSG_DOMAIN_RUNNING = 1,
        XSG_DOMAIN_CRASHED = 2,
        XSG_DOMAIN_DYING = 3,      /* destroyed, kept as a zombie while a dom0 process still
                                      maps one of its ioreq pages (as Xen's "--p--d") */
        XSG_DOMAIN_SHUTDOWN = 4,   /* powered off, still present until the toolstack destroys
                                      it (as Xen's "---s--") */
};

struct xsg_domain_info {
        uint32_t domid;
        unsigned nr_vcpus;
        enum xsg_domain_state state;
        unsigned nr_servers;       /* ioreq servers that exist */
        char name[XSG_NAME_MAX + 1];
        bool paused;               /* created with XSG_CREATE_PAUSED, not unpaused yet */
};

/*
 * Create a domain with nr_vcpus vCPUs (1..128). Domain ids start at 1 and grow: a re-created
 * guest gets a new id. The host writes the xenstore entries libxl writes and introduces the
 * domain (@introduceDomain). -EEXIST: a running domain has that name; -EINVAL: bad name or
 * vCPU count; -ENOSPC: too many domains.
 */
int xsg_domain_create(xsg *g, const char *name, unsigned nr_vcpus, uint32_t *ret_domid);
/*
 * The same with flags: XSG_CREATE_PAUSED creates it paused (as `xl create -p`): its vCPUs run
 * nothing (accesses fail with -EAGAIN) until xsg_domain_unpause().
 */
#define XSG_CREATE_PAUSED 1u
int xsg_domain_create2(xsg *g, const char *name, unsigned nr_vcpus, unsigned flags,
                       uint32_t *ret_domid);
/*
 * Unpause a domain created paused. As Xen does at boot, vCPU 0 then sends one INVALIDATE to
 * every enabled server (the highest id first) and stays blocked until all of them answered:
 * its first access waits for those answers. Returns the number of servers it went to;
 * -EINVAL if the domain is not paused.
 */
int xsg_domain_unpause(xsg *g, uint32_t domid);
/* Destroy: its ioreq servers are destroyed, its xenstore entries removed, @releaseDomain. */
int xsg_domain_destroy(xsg *g, uint32_t domid);
/*
 * The guest powers off, with libxl's default on_poweroff=destroy: the domain shuts down
 * (XSG_DOMAIN_SHUTDOWN) and xenstored sees it (@releaseDomain, the nodes still present, the
 * domain still introduced); about 0.33 s later the toolstack destroys it (its nodes removed, a
 * second @releaseDomain), as FACTS 9g observed. Returns once the domain is destroyed.
 */
int xsg_domain_poweroff(xsg *g, uint32_t domid);
/* Crash it, as Xen's domain_crash() does (its vCPUs stop; the domain stays until destroyed). */
int xsg_domain_crash(xsg *g, uint32_t domid);
int xsg_domain_info(xsg *g, uint32_t domid, struct xsg_domain_info *ret);
/* Fill up to n entries in domid order; returns the number of domains (may exceed n). */
int xsg_domain_list(xsg *g, struct xsg_domain_info *buf, size_t n);

struct xsg_range {
        int space;                 /* XSG_PIO or XSG_MMIO */
        uint64_t start, end;       /* inclusive */
};

struct xsg_server_info {
        unsigned id;
        bool enabled;
        unsigned nr_ranges[2];     /* indexed by XSG_PIO / XSG_MMIO */
        uint32_t vp_eport[XSG_MAX_VCPUS];  /* the guest-side port of each vCPU */
        uint32_t bound_port[XSG_MAX_VCPUS];/* the dom0 port bound to it, 0 if none */
        uint32_t bufioreq_port;    /* 0 when the server has no buffered ioreq page */
};

/* Fill up to n entries (ascending id) with the servers of domid; returns how many exist. */
int xsg_servers(xsg *g, uint32_t domid, struct xsg_server_info *buf, size_t n);
/* Fill up to n ranges of server id of domid in space; returns how many it has. */
int xsg_server_ranges(xsg *g, uint32_t domid, unsigned id, int space,
                      struct xsg_range *buf, size_t n);

/* ---- vCPU accesses ---- */

struct xsg_io {
        /* in */
        int space;                 /* XSG_MMIO or XSG_PIO */
        int dir;                   /* XSG_WRITE or XSG_READ */
        uint64_t addr;
        unsigned size;             /* 1, 2, 4 or 8 */
        uint64_t data;             /* the value written (only `size` bytes are used) */
        int timeout_ms;            /* <= 0: XSG_DEFAULT_TIMEOUT_MS */
        /* out */
        uint64_t value;            /* a read's result, `size` bytes; all-ones with no server */
        int server;                /* id of the server that got the (last) request, -1: none */
        unsigned nr_requests;      /* requests sent: 0 (no server), 1, or 2 (page split) */
        int slot_state;            /* on -ETIMEDOUT: the state the slot was left in */
};

/*
 * One access from vCPU `vcpu` of domid, as Xen 4.17 emulates a guest instruction: the enabled
 * server with the highest id whose ranges contain the whole access gets an ioreq (count=1,
 * data_is_ptr=0, df=0; a read is sent with data 0; write data zero-extended), the vCPU blocks
 * until the server answers (IORESP_READY + notify) and takes `size` bytes of the answer; an
 * answer with state IOREQ_NONE gives all-ones; no server: a read gives all-ones and a write
 * is dropped. An access crossing a 4 KiB boundary is split into one request per page.
 * -EINVAL: bad size/space/dir.
 */
int xsg_io(xsg *g, uint32_t domid, unsigned vcpu, struct xsg_io *io);
/* Conveniences over xsg_io. */
int xsg_write(xsg *g, uint32_t domid, unsigned vcpu, int space, uint64_t addr, unsigned size,
              uint64_t value, int timeout_ms);
int xsg_read(xsg *g, uint32_t domid, unsigned vcpu, int space, uint64_t addr, unsigned size,
             uint64_t *ret_value, int timeout_ms);

/*
 * IOREQ_TYPE_INVALIDATE broadcast from vcpu (as Xen sends on a mapcache invalidation): one
 * request (dir=W addr=0 size=4 count=0 data_is_ptr=0 data=~0) to every enabled server, the
 * highest id first, then the vCPU waits for all the answers. Returns the number of servers
 * it was sent to (>= 0), or -ETIMEDOUT if one did not answer.
 */
int xsg_invalidate(xsg *g, uint32_t domid, unsigned vcpu, int timeout_ms);

/* ---- load ---- */

struct xsg_load_opts {
        const uint32_t *domids;    /* the domains to drive */
        size_t nr_domids;
        unsigned vcpus;            /* vCPUs per domain, one thread each (ids 0..vcpus-1) */
        uint64_t count;            /* total accesses (0: run for `seconds`) */
        double seconds;
        int space, dir;
        uint64_t addr;             /* every access uses this address... */
        unsigned size;
        uint64_t data;             /* ...and, for writes, this value */
        int timeout_ms;            /* per access */
};

struct xsg_load_result {
        uint64_t count;            /* accesses completed */
        uint64_t errors;           /* accesses that failed (hung ones included) */
        double seconds;            /* wall time */
        double p50_us, p99_us, p999_us, max_us, mean_us;
};

/* Run the load; the threads stop at the first hung vCPU (counted in errors). */
int xsg_load(xsg *g, const struct xsg_load_opts *opts, struct xsg_load_result *ret);

/* ---- fault injection ---- */

/* A raw request written as is into a slot. */
struct xsg_raw {
        uint64_t addr, data;
        uint32_t count, size;
        uint8_t state, data_is_ptr, dir, df, type;
};

/*
 * Send a crafted request (bad size such as 3, count > 1, data_is_ptr=1, any type) to server
 * `server` from vCPU `vcpu`, with raw->state forced to IOREQ_READY, and wait for the answer
 * like a real vCPU (same state machine as xsg_io). ret_data (may be NULL) gets the answered
 * data as is.
 */
int xsg_inject_request(xsg *g, uint32_t domid, unsigned vcpu, unsigned server,
                       const struct xsg_raw *raw, int timeout_ms, uint64_t *ret_data);
/*
 * Write raw into slot `slot` (0..127, may be >= nr_vcpus) of server `server`'s ioreq page,
 * state included, without waiting; then, if notify_vcpu >= 0, notify that vCPU's vp_eport.
 * Scribbles and events for vCPUs the guest does not have. -ENXIO: slot > 127 or notify_vcpu
 * without a port.
 */
int xsg_inject_slot(xsg *g, uint32_t domid, unsigned server, unsigned slot,
                    const struct xsg_raw *raw, int notify_vcpu);
/* A spurious notification on vCPU vcpu's vp_eport of server `server` (slot untouched). */
int xsg_inject_notify(xsg *g, uint32_t domid, unsigned server, unsigned vcpu);
/* Read slot `slot` of server `server`'s ioreq page. */
int xsg_slot_peek(xsg *g, uint32_t domid, unsigned server, unsigned slot, ioreq_t *ret);

/* ---- interrupts raised by ioreq servers ---- */

enum xsg_irq_kind {
        XSG_IRQ_LEVEL = 1,         /* xendevicemodel_set_irq_level: a=irq b=level */
        XSG_IRQ_ISA = 2,           /* set_isa_irq_level: a=isa_irq b=level */
        XSG_IRQ_PCI_INTX = 3,      /* set_pci_intx_level: a=seg<<24|bus<<16|dev<<8|intx
                                      b=level */
        XSG_IRQ_MSI = 4,           /* inject_msi: a=msi_addr b=msi_data */
};

struct xsg_irq {
        enum xsg_irq_kind kind;
        uint64_t a, b;
        uint64_t seq;              /* host-wide order */
};

/*
 * Entry `index` (0 = oldest) of domid's interrupt log (the host keeps the last 4096 per
 * domain). -ENOENT: no such entry.
 */
int xsg_irq_get(xsg *g, uint32_t domid, unsigned index, struct xsg_irq *ret);

#ifdef __cplusplus
}
#endif

#endif
