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
                                      maps one of its ioreq pages or RAM frames (as Xen's
                                      "--p--d") */
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

/* ---- guest RAM ---- */

/*
 * Each domain has RAM: a sparse memfd in the host (no memory is used until written), every
 * frame populated at creation. dom0 processes map its frames with xenforeignmemory_map/map2
 * (Xen's rules: a frame beyond the RAM or given back fails on its own with EINVAL); the guest
 * driver reads and writes it directly, the same memory.
 */
#define XSG_RAM_DEFAULT (16ull << 20)  /* RAM of a domain created without a size */
#define XSG_RAM_MAX (4ull << 30)
#define XSG_PAGE_SIZE 4096u

/*
 * xsg_domain_create2 with the RAM size in bytes (a multiple of XSG_PAGE_SIZE, at most
 * XSG_RAM_MAX; 0: XSG_RAM_DEFAULT). -EINVAL: a bad size.
 */
int xsg_domain_create_ram(xsg *g, const char *name, unsigned nr_vcpus, unsigned flags,
                          uint64_t ram_bytes, uint32_t *ret_domid);
/*
 * The domain's whole RAM mapped into this process (guest-physical address a is base + a),
 * with its size. The mapping is made once per domain and handle and stays valid until
 * xsg_close, also after the domain is destroyed. Frames given back still show there (the
 * guest's own view is not checked). -ESRCH: no such domain (or it is dying).
 */
int xsg_ram_ptr(xsg *g, uint32_t domid, void **ret_base, uint64_t *ret_bytes);
/* Copy from / to guest-physical addresses [gpa, gpa + len). -EFAULT: beyond the RAM. */
int xsg_ram_read(xsg *g, uint32_t domid, uint64_t gpa, void *buf, size_t len);
int xsg_ram_write(xsg *g, uint32_t domid, uint64_t gpa, const void *buf, size_t len);
/*
 * The guest gives frames [gfn, gfn + count) back to Xen (populate false: the balloon's
 * decrease_reservation; new foreign mappings of them fail with EINVAL per frame) or
 * populates them again (true: each frame that was given back becomes a zero page, also in
 * mappings made before; on Xen those would keep the old page). -EINVAL: a range beyond the
 * RAM or empty.
 */
int xsg_ram_populate(xsg *g, uint32_t domid, uint64_t gfn, uint64_t count, bool populate);

struct xsg_ram_mapping_info {
        unsigned id;               /* the host's id of the mapping (shared with map_resource's) */
        uint64_t handle;           /* the foreignmemory handle it was made with */
        uint32_t pid;              /* the process that called xenforeignmemory_map */
        unsigned frames;           /* frames asked for */
        unsigned frames_mapped;    /* of which mapped (the rest failed) */
};

/*
 * The foreign mappings alive of domid's RAM (one per xenforeignmemory_map call not yet
 * wholly unmapped), ascending id: fills up to n entries, returns how many there are. A
 * mapping keeps a destroyed domain a zombie (XSG_DOMAIN_DYING) until it is unmapped or its
 * process exits. -ESRCH: no such domain.
 */
int xsg_ram_mappings(xsg *g, uint32_t domid, struct xsg_ram_mapping_info *buf, size_t n);

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
 * domain). -ENOENT: no such entry. Only calls that passed Xen 4.17's argument checks are
 * logged; the others fail with the errno Xen gives (levels are the dm_op's uint8_t: 256 is 0):
 *   set_irq_level      EINVAL: irq < 32 or > 1019 (Arm: SPIs only), level > 1
 *   set_isa_irq_level  EINVAL: irq > 15, level > 1
 *   set_pci_intx_level EINVAL: segment or bus not 0, device > 31, intx > 3, level > 1
 *   inject_msi         ERANGE: vector 0 (data & 0xff) without a positive emulated pirq
 *                      ((addr >> 32) & ~0xff | destination); EINVAL: a delivery mode
 *                      ((data >> 8) & 7) other than fixed (0) or lowest priority (1)
 */
int xsg_irq_get(xsg *g, uint32_t domid, unsigned index, struct xsg_irq *ret);

/* ---- guest event channels ---- */

/*
 * The guest's own event channels, as its kernel drives them (EVTCHNOP_alloc_unbound and
 * EVTCHNOP_close; Linux's /dev/xen/evtchn in the guest): the guest allocates a port unbound for
 * a remote domain and publishes it; dom0 binds it with xenevtchn_bind_interdomain(domid, port)
 * (possible only when the remote domain is 0) and signals it with xenevtchn_notify(). Each
 * notification counts and sets the port pending; notifications while it is pending coalesce
 * (pending once, counted each). xenevtchn_unbind() in dom0, or the close of its handle or
 * the exit of the process that bound it, makes it unbound again and bindable anew (after an
 * unbind at once; after a close or an exit once the host has seen the connection close, a few
 * ms). xsg_evtchn_close() frees it, and a dom0 port bound to it stays bound on its handle, to
 * nothing (XSG_PORT_GONE; notifications to it are dropped). The ports come from the same
 * space as the ioreq ports (the lowest free one). A wait may run in any thread or process.
 */

#define XSG_DOMID_SELF 0x7FF0      /* Xen's DOMID_SELF: the domain itself */

/*
 * Allocate a port of domid unbound for remote_domid (XSG_DOMID_SELF: domid itself; the remote
 * domain need not exist, as on Xen). Its pending flag and count start at 0. -EINVAL:
 * remote_domid > 0xffff, or the domain is dying; -ENOSPC: no free port.
 */
int xsg_evtchn_alloc_unbound(xsg *g, uint32_t domid, uint32_t remote_domid,
                             uint32_t *ret_port);
/* Close it (bound or not). -EINVAL: not a port allocated by xsg_evtchn_alloc_unbound. */
int xsg_evtchn_close(xsg *g, uint32_t domid, uint32_t port);

enum xsg_evtchn_state {
        XSG_EVTCHN_UNBOUND = 1,    /* allocated, no dom0 port bound to it */
        XSG_EVTCHN_INTERDOMAIN = 2,/* dom0 port `bound_port` is bound to it */
};

struct xsg_evtchn_status {
        enum xsg_evtchn_state state;
        uint32_t remote_domid;     /* the domain allowed to bind it */
        uint32_t bound_port;       /* XSG_EVTCHN_INTERDOMAIN: the dom0 port; otherwise 0 */
        bool pending;              /* an event not taken yet */
        uint32_t count;            /* notifications received since it was allocated */
};

/*
 * The state of port `port` of domid. -EINVAL: not a port allocated by the guest (or the
 * domain is dying: Xen closed its ports).
 */
int xsg_evtchn_status(xsg *g, uint32_t domid, uint32_t port, struct xsg_evtchn_status *ret);
/*
 * Take the port's event, as a guest reading /dev/xen/evtchn: wait until it is pending (up to
 * timeout_ms; 0: do not wait; < 0: XSG_DEFAULT_TIMEOUT_MS), then clear it. ret_count (may be
 * NULL) gets the notifications received so far. -ETIMEDOUT: none within timeout_ms
 * (-EAGAIN when timeout_ms is 0); -EINVAL: not (or no longer: closed meanwhile) a port
 * allocated by the guest; -ESRCH: the domain is gone.
 */
int xsg_evtchn_wait(xsg *g, uint32_t domid, uint32_t port, int timeout_ms,
                    uint32_t *ret_count);

/*
 * The oldest entry of domid's interrupt log whose seq is above after_seq (0: the oldest
 * kept). -ENOENT: none (yet).
 */
int xsg_irq_next(xsg *g, uint32_t domid, uint64_t after_seq, struct xsg_irq *ret);
/* The same, waiting up to timeout_ms (<= 0: XSG_DEFAULT_TIMEOUT_MS) for one: -ETIMEDOUT. */
int xsg_irq_wait(xsg *g, uint32_t domid, uint64_t after_seq, int timeout_ms,
                 struct xsg_irq *ret);

/* ---- introspection: what each process holds on the host ---- */

/*
 * Every handle of xensim's libraries is one connection to the host, which knows the process
 * that opened it (SO_PEERCRED of the connection) and the one that sent each request
 * (SCM_CREDENTIALS): a handle inherited across fork() or passed to another process keeps the
 * pid of its opener, and shows its user as last_pid. The host releases what a closed or
 * exited process held before it answers, so a process that has exited shows nothing.
 * libxentoolcore holds nothing on the host: xentoolcore_restrict_all() shows in the
 * restriction of every handle. These calls fail with -EPERM on a restricted connection (the
 * guest driver's never is).
 */

enum xsg_handle_kind {
        XSG_HANDLE_UNKNOWN = 0,    /* a connection that did not say what it is */
        XSG_HANDLE_GUEST = 1,      /* a guest driver: libxensim-guest, the xensim CLI */
        XSG_HANDLE_DEVICEMODEL = 2,/* xendevicemodel_open() */
        XSG_HANDLE_FOREIGNMEMORY = 3,/* xenforeignmemory_open() */
        XSG_HANDLE_EVTCHN = 4,     /* xenevtchn_open() */
};

struct xsg_handle_info {
        uint64_t id;               /* the host's id: from 1 in opening order, never reused */
        uint32_t pid;              /* the process that opened it */
        uint32_t last_pid;         /* the process that sent its latest request (0: none) */
        enum xsg_handle_kind kind;
        bool restricted;           /* *_restrict() or xentoolcore_restrict_all() */
        uint32_t restrict_domid;   /* the domain it is restricted to, when restricted */
        unsigned nr_ports;         /* evtchn: dom0 ports bound on it */
        unsigned nr_mappings;      /* foreignmemory: mappings alive made with it, of ioreq
                                      pages (map_resource) and of guest RAM (map/map2) */
        unsigned nr_map_calls;     /* foreignmemory: map_resource calls that succeeded on it */
};

/*
 * The open handles of process pid (opened by it, or whose latest request it sent; 0: every
 * handle, the caller's own included), in ascending id: fills up to n entries and returns how
 * many there are. Each entry is one request: a handle that exists throughout the call is
 * listed once, with its state at the moment it was read.
 */
int xsg_handles(xsg *g, uint32_t pid, struct xsg_handle_info *buf, size_t n);

enum xsg_port_kind {
        XSG_PORT_GONE = 0,         /* the remote end was closed (its server or domain was
                                      destroyed): the dom0 port stays bound, to nothing */
        XSG_PORT_IOREQ = 1,        /* a vCPU's vp_eport */
        XSG_PORT_BUFIOREQ = 2,     /* a server's buffered ioreq port */
        XSG_PORT_INTERDOMAIN = 3,  /* a guest's own event channel (xsg_evtchn_alloc_unbound) */
};

struct xsg_port_info {
        uint32_t port;             /* the dom0 port */
        enum xsg_port_kind kind;
        uint32_t domid;            /* the remote end (not for XSG_PORT_GONE) */
        uint32_t remote_port;
        unsigned server;
        int vcpu;                  /* XSG_PORT_IOREQ: the vCPU; otherwise -1 */
};

/*
 * The dom0 ports bound on evtchn handle `handle` (an id of xsg_handles), ascending: fills up
 * to n entries and returns how many there are (0 for a handle that is not an evtchn handle).
 * -ENOENT: no such handle open.
 */
int xsg_handle_ports(xsg *g, uint64_t handle, struct xsg_port_info *buf, size_t n);

#define XSG_ANY_SERVER (~0u)

struct xsg_mapping_info {
        unsigned id;               /* the host's id of the mapping (ascending in time) */
        uint64_t handle;           /* the foreignmemory handle it was made with */
        uint32_t pid;              /* the process that called map_resource */
        unsigned server;
        bool ioreq, bufioreq;      /* the frames mapped: the ioreq page, the buffered one */
        bool current;              /* the server still exists with these pages (false once it
                                      was destroyed: the mapping keeps the old pages) */
};

/*
 * The resource mappings alive of domid's ioreq pages, of server `server` (XSG_ANY_SERVER:
 * of every server), in ascending id: fills up to n entries and returns how many there are.
 * -ESRCH: no such domain; -EINVAL: server out of range.
 */
int xsg_server_mappings(xsg *g, uint32_t domid, unsigned server, struct xsg_mapping_info *buf,
                        size_t n);

/* The host's bound on the processes whose map_resource calls it remembers. */
#define XSG_MAP_HISTORY 1024

struct xsg_map_history {
        uint64_t maps;             /* map_resource calls that succeeded */
        uint64_t refused;          /* map_resource calls the host refused (restriction, no
                                      such domain or server, bad frame...) */
        unsigned alive;            /* its mappings alive now */
        uint64_t forgotten;        /* processes whose records the host dropped: it keeps the
                                      XSG_MAP_HISTORY most recent; 0 means the counts of every
                                      process are complete */
};

/*
 * The map_resource calls process pid ever sent on this host (by any handle, whoever opened
 * it), also after its mappings and handles are gone. A pid reused by a new process adds to
 * the old one's record. -EINVAL: pid 0.
 */
int xsg_map_history(xsg *g, uint32_t pid, struct xsg_map_history *ret);

#ifdef __cplusplus
}
#endif

#endif
