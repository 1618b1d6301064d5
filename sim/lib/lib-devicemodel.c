/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * libxendevicemodel.so.1 for xensim: every dm_op the real library issues becomes a request
 * to xensimd, which applies Xen 4.17's rules. Operations xensim does not simulate fail with
 * ENOSYS.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <unistd.h>

#include <xendevicemodel.h>

#include "lib-common.h"

enum { IRQ_LEVEL = 1, IRQ_ISA = 2, IRQ_PCI_INTX = 3, IRQ_MSI = 4 };

struct xendevicemodel_handle {
        Xentoolcore__Active_Handle tc_ah;
        struct lib_conn c;
};

static int dm_restrict_cb(Xentoolcore__Active_Handle *ah, domid_t domid) {
        struct xendevicemodel_handle *h = (struct xendevicemodel_handle *)ah;
        return xendevicemodel_restrict(h, domid);
}

xendevicemodel_handle *xendevicemodel_open(struct xentoollog_logger *logger,
                                           unsigned int open_flags) {
        struct xendevicemodel_handle *h = calloc(1, sizeof(*h));
        int r;

        if (!h)
                return NULL;
        h->tc_ah.restrict_callback = dm_restrict_cb;
        xentoolcore__register_active_handle(&h->tc_ah);
        r = lib_conn_open(&h->c, XS_CLIENT_DEVICEMODEL);
        if (r < 0) {
                xentoolcore__deregister_active_handle(&h->tc_ah);
                lib_conn_close(&h->c);
                free(h);
                errno = -r;
                return NULL;
        }
        (void)logger;
        (void)open_flags;
        return h;
}

int xendevicemodel_close(xendevicemodel_handle *dmod) {
        if (!dmod)
                return 0;
        xentoolcore__deregister_active_handle(&dmod->tc_ah);
        lib_conn_close(&dmod->c);
        free(dmod);
        return 0;
}

int xendevicemodel_create_ioreq_server(xendevicemodel_handle *dmod, domid_t domid,
                                       int handle_bufioreq, ioservid_t *id) {
        uint64_t v[4];
        if (handle_bufioreq < 0) {
                errno = EINVAL;
                return -1;
        }
        if (lib_op(&dmod->c, XS_OP_DM_CREATE, LIB_ARGS(domid, (uint64_t)handle_bufioreq), v))
                return -1;
        *id = (ioservid_t)v[0];
        return 0;
}

int xendevicemodel_get_ioreq_server_info(xendevicemodel_handle *dmod, domid_t domid,
                                         ioservid_t id, xen_pfn_t *ioreq_gfn,
                                         xen_pfn_t *bufioreq_gfn,
                                         evtchn_port_t *bufioreq_port) {
        uint64_t v[4];
        if (lib_op(&dmod->c, XS_OP_DM_INFO,
                   LIB_ARGS(domid, id, (uint64_t)(ioreq_gfn || bufioreq_gfn)), v))
                return -1;
        if (bufioreq_port)
                *bufioreq_port = (evtchn_port_t)v[0];
        return 0;
}

int xendevicemodel_map_io_range_to_ioreq_server(xendevicemodel_handle *dmod, domid_t domid,
                                                ioservid_t id, int is_mmio, uint64_t start,
                                                uint64_t end) {
        return lib_op(&dmod->c, XS_OP_DM_MAP,
                      LIB_ARGS(domid, id, is_mmio ? XEN_DMOP_IO_RANGE_MEMORY
                                                  : XEN_DMOP_IO_RANGE_PORT, start, end),
                      NULL);
}

int xendevicemodel_unmap_io_range_from_ioreq_server(xendevicemodel_handle *dmod,
                                                    domid_t domid, ioservid_t id, int is_mmio,
                                                    uint64_t start, uint64_t end) {
        return lib_op(&dmod->c, XS_OP_DM_UNMAP,
                      LIB_ARGS(domid, id, is_mmio ? XEN_DMOP_IO_RANGE_MEMORY
                                                  : XEN_DMOP_IO_RANGE_PORT, start, end),
                      NULL);
}

int xendevicemodel_map_mem_type_to_ioreq_server(xendevicemodel_handle *dmod, domid_t domid,
                                                ioservid_t id, uint16_t type, uint32_t flags) {
        errno = ENOSYS;
        return -1;
}

/* As the real library: a PCI device is a one-element range of type XEN_DMOP_IO_RANGE_PCI. */
int xendevicemodel_map_pcidev_to_ioreq_server(xendevicemodel_handle *dmod, domid_t domid,
                                              ioservid_t id, uint16_t segment, uint8_t bus,
                                              uint8_t device, uint8_t function) {
        uint64_t sbdf = XEN_DMOP_PCI_SBDF(segment, bus, device, function);
        if (device > 0x1f || function > 0x7) {
                errno = EINVAL;
                return -1;
        }
        return lib_op(&dmod->c, XS_OP_DM_MAP,
                      LIB_ARGS(domid, id, XEN_DMOP_IO_RANGE_PCI, sbdf, sbdf), NULL);
}

int xendevicemodel_unmap_pcidev_from_ioreq_server(xendevicemodel_handle *dmod, domid_t domid,
                                                  ioservid_t id, uint16_t segment,
                                                  uint8_t bus, uint8_t device,
                                                  uint8_t function) {
        uint64_t sbdf = XEN_DMOP_PCI_SBDF(segment, bus, device, function);
        if (device > 0x1f || function > 0x7) {
                errno = EINVAL;
                return -1;
        }
        return lib_op(&dmod->c, XS_OP_DM_UNMAP,
                      LIB_ARGS(domid, id, XEN_DMOP_IO_RANGE_PCI, sbdf, sbdf), NULL);
}

int xendevicemodel_destroy_ioreq_server(xendevicemodel_handle *dmod, domid_t domid,
                                        ioservid_t id) {
        return lib_op(&dmod->c, XS_OP_DM_DESTROY, LIB_ARGS(domid, id), NULL);
}

int xendevicemodel_set_ioreq_server_state(xendevicemodel_handle *dmod, domid_t domid,
                                          ioservid_t id, int enabled) {
        return lib_op(&dmod->c, XS_OP_DM_STATE, LIB_ARGS(domid, id, enabled ? 1 : 0), NULL);
}

int xendevicemodel_set_pci_intx_level(xendevicemodel_handle *dmod, domid_t domid,
                                      uint16_t segment, uint8_t bus, uint8_t device,
                                      uint8_t intx, unsigned int level) {
        uint64_t a = (uint64_t)segment << 24 | (uint64_t)bus << 16 | (uint64_t)device << 8 | intx;
        return lib_op(&dmod->c, XS_OP_DM_IRQ, LIB_ARGS(domid, IRQ_PCI_INTX, a, (uint8_t)level),
                      NULL);
}

int xendevicemodel_set_isa_irq_level(xendevicemodel_handle *dmod, domid_t domid, uint8_t irq,
                                     unsigned int level) {
        return lib_op(&dmod->c, XS_OP_DM_IRQ, LIB_ARGS(domid, IRQ_ISA, irq, (uint8_t)level), NULL);
}

int xendevicemodel_set_irq_level(xendevicemodel_handle *dmod, domid_t domid, unsigned int irq,
                                 unsigned int level) {
        return lib_op(&dmod->c, XS_OP_DM_IRQ, LIB_ARGS(domid, IRQ_LEVEL, irq, (uint8_t)level),
                      NULL);
}

int xendevicemodel_set_pci_link_route(xendevicemodel_handle *dmod, domid_t domid,
                                      uint8_t link, uint8_t irq) {
        errno = ENOSYS;
        return -1;
}

int xendevicemodel_inject_msi(xendevicemodel_handle *dmod, domid_t domid, uint64_t msi_addr,
                              uint32_t msi_data) {
        return lib_op(&dmod->c, XS_OP_DM_IRQ, LIB_ARGS(domid, IRQ_MSI, msi_addr, msi_data),
                      NULL);
}

int xendevicemodel_track_dirty_vram(xendevicemodel_handle *dmod, domid_t domid,
                                    uint64_t first_pfn, uint32_t nr, unsigned long *dirty_bitmap) {
        errno = ENOSYS;
        return -1;
}

int xendevicemodel_modified_memory(xendevicemodel_handle *dmod, domid_t domid,
                                   uint64_t first_pfn, uint32_t nr) {
        errno = ENOSYS;
        return -1;
}

int xendevicemodel_modified_memory_bulk(xendevicemodel_handle *dmod, domid_t domid,
                                        struct xen_dm_op_modified_memory_extent extents[],
                                        uint32_t nr) {
        errno = ENOSYS;
        return -1;
}

int xendevicemodel_set_mem_type(xendevicemodel_handle *dmod, domid_t domid,
                                hvmmem_type_t mem_type, uint64_t first_pfn, uint32_t nr) {
        errno = ENOSYS;
        return -1;
}

int xendevicemodel_inject_event(xendevicemodel_handle *dmod, domid_t domid, int vcpu,
                                uint8_t vector, uint8_t type, uint32_t error_code,
                                uint8_t insn_len, uint64_t extra) {
        errno = ENOSYS;
        return -1;
}

int xendevicemodel_shutdown(xendevicemodel_handle *dmod, domid_t domid, unsigned int reason) {
        errno = ENOSYS;
        return -1;
}

int xendevicemodel_relocate_memory(xendevicemodel_handle *dmod, domid_t domid, uint32_t size,
                                   uint64_t src_gfn, uint64_t dst_gfn) {
        errno = ENOSYS;
        return -1;
}

int xendevicemodel_pin_memory_cacheattr(xendevicemodel_handle *dmod, domid_t domid,
                                        uint64_t start, uint64_t end, uint32_t type) {
        errno = ENOSYS;
        return -1;
}

int xendevicemodel_nr_vcpus(xendevicemodel_handle *dmod, domid_t domid, unsigned int *vcpus) {
        uint64_t v[4];
        if (lib_op(&dmod->c, XS_OP_DM_NR_VCPUS, LIB_ARGS(domid), v))
                return -1;
        *vcpus = (unsigned int)v[0];
        return 0;
}

int xendevicemodel_restrict(xendevicemodel_handle *dmod, domid_t domid) {
        return lib_restrict(&dmod->c, XS_OP_DM_RESTRICT, domid);
}
