/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * host-internal.h - the private state of xensimd's host and the functions its modules share.
 */
#ifndef XENSIM_HOST_INTERNAL_H
#define XENSIM_HOST_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <xen/hvm/hvm_op.h>
#include <xen/hvm/ioreq.h>

#include "host.h"

/* Resource mappings per client (Linux's vm.max_map_count is 65530 per process). */
#define HOST_MAX_MAPS 16384u

struct host_map {
        uint32_t id;
        uint32_t slot;                  /* domain slot */
        uint32_t nr;
        uint32_t page[2];
        uint32_t pid;                   /* the process that sent the map_resource */
        uint8_t srv;                    /* the server whose pages these were */
        uint8_t frames;                 /* HOST_MAP_IOREQ | HOST_MAP_BUFIOREQ, or HOST_MAP_RAM */
        uint32_t ram_asked, ram_mapped; /* HOST_MAP_RAM: guest frames asked for, mapped */
};
#define HOST_MAP_IOREQ 1u
#define HOST_MAP_BUFIOREQ 2u
#define HOST_MAP_RAM 4u                 /* guest frames (xenforeignmemory_map), nr = 0 */

/*
 * The map_resource calls of each process, kept after its mappings and connections are gone:
 * HOST_MAP_HISTORY processes, the oldest record dropped (and counted) for a new one beyond.
 */
#define HOST_MAP_HISTORY 1024u

struct hmapper {
        uint32_t pid;
        uint64_t ok, refused;
};

struct hsrv {
        int state;                      /* XS_SRV_* */
        uint32_t page, bufpage, bufport;
        uint32_t nr[3];                 /* PIO, MMIO, PCI config space */
        uint32_t vport[XS_MAX_VCPUS];
        struct xs_range *r[3];          /* XS_MAX_RANGES each, allocated on first map */
};

struct hgport {
        uint8_t kind;
        uint8_t srv;
        uint16_t vcpu;
        uint32_t lport;
        uint32_t remote;                /* XS_GPORT_EVTCHN: the domain allowed to bind it */
};

/* The guest port is one of ioreq server id's (a vCPU's or the buffered ioreq port). */
static inline bool host_gport_of_server(const struct hgport *g, unsigned id) {
        return (g->kind == XS_GPORT_IOREQ || g->kind == XS_GPORT_BUFIOREQ) && g->srv == id;
}

struct irqent {
        uint32_t kind;
        uint64_t a, b, seq;
};

struct hdom {
        uint32_t domid, gen, nr_vcpus;
        int state;
        bool paused;
        char name[64];
        struct hsrv srv[XS_MAX_SERVERS];
        struct hgport gport[XS_MAX_GPORTS];
        unsigned maprefs;               /* foreignmemory mappings of its pages */
        struct irqent *irq;             /* XS_IRQ_LOG entries, allocated on first use */
        unsigned irq_start, irq_count;
        /* guest RAM (host-mem.c) */
        uint64_t ram_frames;
        int ram_fd;                     /* its memfd, -1 until first used */
        uint64_t *ram_gone;             /* bit set: frame given back; NULL: all populated */
};

struct hport {
        uint32_t handle;                /* owner handle + 1, 0 = free */
        uint32_t rslot;                 /* peer domain slot + 1, 0 = unbound */
        uint32_t rport;
};

struct hhandle {
        bool used;
        int efd;
        struct host_client *owner;
};

/* A powered-off domain waiting for its destruction, and who waits for the answer. */
struct hpoweroff {
        uint32_t slot, gen;
        uint64_t due_ns;
        struct host_client *waiter;     /* NULL once its connection is gone */
        struct xs_rep rep;
};

struct host {
        bool verbose;
        int shm_fd;
        void *shm;
        struct xs_shm_hdr *hdr;
        struct xs_handle *xs;
        struct hdom *dom[XS_MAX_DOMS];
        bool slot_used[XS_MAX_DOMS];
        uint32_t next_domid;
        uint32_t page_refs[XS_MAX_PAGES];
        uint32_t page_slot[XS_MAX_PAGES];
        uint32_t free_pages[XS_MAX_PAGES];     /* a FIFO from free_head */
        unsigned free_head, nr_free_pages;
        struct hport port[XS_MAX_PORTS];
        struct hhandle handle[XS_MAX_HANDLES];
        uint32_t next_map_id;
        uint64_t irq_seq;
        uint32_t gen_counter;
        struct hpoweroff *poweroff;
        unsigned nr_poweroff;
        struct host_client *clients, *clients_tail;     /* ascending id */
        uint64_t next_client_id;
        struct hmapper mapper[HOST_MAP_HISTORY];         /* oldest at mapper_oldest when full */
        unsigned nr_mappers, mapper_oldest;
        uint64_t mappers_forgotten;
};


/*
 * The modules in layers, each calling only those below it:
 *   host.c        lifetime, clients, dispatch; destroy, crash, unpause, poweroff (host.h)
 *   host-intro.c  introspection: what each client holds, the map_resource history
 *   host-ioreq.c  ioreq servers, ranges, pages and mappings, boot INVALIDATE, interrupt log
 *   host-mem.c    guest RAM and the foreign mappings of its frames (beside host-ioreq.c)
 *   host-evtchn.c dom0 event channels and evtchn handles
 *   host-dom.c    the domain table
 *   host-pub.c    logging, publishing to the shm, waking vCPUs
 * host-xs.c (the toolstack's xenstore side) only talks to xenstored.
 */

/* host-pub.c: logging and publishing to the shm (under the domain's seqlock). */
void host_log(struct host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void host_pub_begin(struct host *h, uint32_t slot);
void host_pub_end(struct host *h, uint32_t slot);
void host_pub_header(struct host *h, uint32_t slot);
void host_pub_gport(struct host *h, uint32_t slot, uint32_t port);
void host_pub_server(struct host *h, uint32_t slot, unsigned id);
/* Wake every vCPU of the domain so that blocked vCPUs notice a change of it. */
void host_pub_wake(struct host *h, uint32_t slot);

static inline struct xs_dom *host_sdom(struct host *h, uint32_t slot) {
        return xs_shm_dom(h->shm, slot);
}

/* host-dom.c: the domain table. */
int host_dom_find(struct host *h, uint32_t domid);
/* A toolstack operation's checks: the client unrestricted, the domain existing. */
int host_dom_check(struct host_client *c, uint64_t domid, struct host *h, int *ret_slot);
int host_dom_create(struct host *h, const struct xs_req *req, uint64_t *val);
/* Give the lowest free guest port the kind (Xen's get_free_port); -ENOSPC when none is. */
int host_dom_gport_alloc(struct hdom *d, uint8_t kind, uint8_t srv, uint16_t vcpu,
                         uint32_t *ret);
/* Publish a change of the domain's state or paused flag (and wake its vCPUs). */
void host_dom_publish(struct host *h, uint32_t slot);
void host_dom_free(struct host *h, uint32_t slot);
void host_dom_free_all(struct host *h);

/* host-evtchn.c: dom0 event channels and evtchn handles. */
int host_evt_open(struct host *h, struct host_client *c, uint64_t *val, int *ret_fd);
/* Close the client's evtchn handle, freeing its ports (nothing if it has none). */
void host_evt_close(struct host *h, struct host_client *c);
int host_evt_bind(struct host *h, struct host_client *c, const uint64_t *a, uint64_t *val);
int host_evt_unbind(struct host *h, struct host_client *c, uint64_t port);
void host_evt_deliver(struct host *h, uint32_t lport);
void host_evt_unbind_peer(struct host *h, uint32_t lport);
/* Guest event channels (XS_OP_GEVT_*): EVTCHNOP_alloc_unbound and EVTCHNOP_close in a guest. */
int host_evt_guest_alloc(struct host *h, struct host_client *c, const uint64_t *a,
                         uint64_t *val);
int host_evt_guest_close(struct host *h, struct host_client *c, const uint64_t *a);

/* host-ioreq.c: ioreq servers, their ranges and pages (devicemodel, foreignmemory). */
int host_ioreq_check_target(struct host *h, struct host_client *c, uint64_t domid,
                            int *ret_slot);
int host_ioreq_check_server(struct host *h, struct host_client *c, uint64_t domid, uint64_t id,
                            int *ret_slot);
int host_ioreq_create(struct host *h, struct host_client *c, const uint64_t *a, uint64_t *val);
void host_ioreq_server_destroy(struct host *h, uint32_t slot, unsigned id);
int host_ioreq_map(struct host *h, struct host_client *c, const uint64_t *a, bool map);
int host_ioreq_set_state(struct host *h, struct host_client *c, const uint64_t *a);
int host_ioreq_irq(struct host *h, struct host_client *c, const uint64_t *a);
int host_ioreq_fm_map(struct host *h, struct host_client *c, uint32_t pid, const uint64_t *a,
                      uint64_t *val);
int host_ioreq_fm_unmap(struct host *h, struct host_client *c, uint64_t id);
void host_ioreq_map_drop(struct host *h, struct host_map *m);
unsigned host_ioreq_boot_invalidate(struct host *h, uint32_t slot);

/* host-mem.c: guest RAM, its population, foreign mappings of its frames. */
int host_mem_fd(struct host *h, struct host_client *c, uint64_t domid, uint64_t *val,
                int *ret_fd);
int host_mem_populate(struct host *h, struct host_client *c, const uint64_t *a);
int host_mem_fm_map(struct host *h, struct host_client *c, uint32_t pid, const uint64_t *a,
                    uint64_t *val, int *ret_fd);

/*
 * host-intro.c: what each client holds (XS_OP_INTRO_*, for tests), read from every layer
 * below, and the history of map_resource calls per process.
 */
/* Count a map_resource request of process pid on c that gave r (0 or -errno). */
void host_intro_map_result(struct host *h, struct host_client *c, uint32_t pid, int r);
/* Answer an XS_OP_INTRO_* request (the caller checked that c is not restricted). */
int host_intro_dispatch(struct host *h, const struct xs_req *req, uint64_t *val);

/* host-xs.c: the keys libxl writes for a new domain, their removal, shutdown, dom0's. */
int host_xs_domain_create(struct xs_handle *xs, uint32_t domid, const char *name,
                          unsigned nr_vcpus);
int host_xs_domain_destroy(struct xs_handle *xs, uint32_t domid);
int host_xs_domain_shutdown(struct xs_handle *xs, uint32_t domid);
int host_xs_dom0(struct xs_handle *xs);

#endif
