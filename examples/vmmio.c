/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdlib.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include "vlog.h"
#include "vmmio.h"

struct Vmmio {
        VmmioDevice dev;
        void *dev_opaque;
        GuestMem *mem;
        VmmioIrqFn irq;
        void *irq_opaque;

        uint32_t status;
        uint32_t device_features_sel, driver_features_sel;
        uint64_t driver_features;
        uint32_t queue_sel;
        uint32_t interrupt_status;
        uint32_t config_generation;
        Virtq queues[VMMIO_QUEUES_MAX];
        VmmioStats stats;
};

static bool running(const Vmmio *m) {
        return (m->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
               !(m->status & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED));
}

static void bad_access(Vmmio *m, const char *what, uint64_t offset, unsigned size) {
        m->stats.bad_accesses++;
        vlog_debug("device %" PRIu32 ": %s at offset 0x%" PRIx64 " size %u ignored", m->dev.device_id, what, offset,
                   size);
}

static void raise_interrupt(Vmmio *m, uint32_t bits) {
        m->interrupt_status |= bits;
        m->stats.interrupts++;
        m->irq(m->irq_opaque, true);
}

static void ack_interrupt(Vmmio *m, uint32_t bits) {
        if (m->interrupt_status == 0)
                return;
        m->interrupt_status &= ~bits;
        if (m->interrupt_status == 0)
                m->irq(m->irq_opaque, false);
}

static void reset(Vmmio *m) {
        for (unsigned i = 0; i < m->dev.num_queues; i++) {
                virtq_stop(&m->queues[i]);
                m->queues[i] = (Virtq) {};
        }
        gmem_flush(m->mem);
        ack_interrupt(m, UINT32_MAX);
        m->status = 0;
        m->device_features_sel = m->driver_features_sel = m->queue_sel = 0;
        m->driver_features = 0;
        m->stats.resets++;
        m->dev.reset(m->dev_opaque);
}

/* FEATURES_OK: only features the device offered, and never without VIRTIO_F_VERSION_1 */
static bool features_acceptable(const Vmmio *m) {
        uint64_t unknown = m->driver_features & ~m->dev.features;

        if (unknown) {
                vlog_debug("device %" PRIu32 ": driver accepted features 0x%" PRIx64 " that were not offered",
                           m->dev.device_id, unknown);
                return false;
        }
        if (!(m->driver_features & (UINT64_C(1) << VIRTIO_F_VERSION_1))) {
                vlog_debug("device %" PRIu32 ": driver did not accept VIRTIO_F_VERSION_1", m->dev.device_id);
                return false;
        }
        return true;
}

static void write_status(Vmmio *m, uint32_t value) {
        uint32_t add = value & ~m->status & ~(uint32_t) VIRTIO_CONFIG_S_NEEDS_RESET;

        if (value == 0) {
                reset(m);
                return;
        }
        if (m->status & ~value & ~(uint32_t) VIRTIO_CONFIG_S_NEEDS_RESET)
                vlog_debug("device %" PRIu32 ": driver cleared status bits 0x%" PRIx32 " (kept)", m->dev.device_id,
                           m->status & ~value);
        if ((add & VIRTIO_CONFIG_S_FEATURES_OK) && !features_acceptable(m))
                add &= ~(uint32_t) VIRTIO_CONFIG_S_FEATURES_OK;         /* the driver reads it back: refused */
        if ((add & VIRTIO_CONFIG_S_DRIVER_OK) && !((m->status | add) & VIRTIO_CONFIG_S_FEATURES_OK))
                add &= ~(uint32_t) VIRTIO_CONFIG_S_DRIVER_OK;
        m->status |= add;
}

static void write_queue_ready(Vmmio *m, Virtq *q, uint32_t value) {
        int r;

        if (value == 0) {
                virtq_stop(q);
                return;
        }
        if (q->started)
                return;
        r = virtq_start(q, m->mem, m->dev.queue_num_max);
        if (r < 0) {
                vlog_debug("device %" PRIu32 ": queue %" PRIu32 " (num %" PRIu32 ", desc 0x%" PRIx64 ", driver 0x%"
                           PRIx64 ", device 0x%" PRIx64 ") cannot start: error %d", m->dev.device_id, m->queue_sel,
                           q->num, q->desc_gpa, q->avail_gpa, q->used_gpa, r);
                vmmio_fail(m);
        }
}

static void set_half(uint64_t *v, bool high, uint32_t value) {
        if (high)
                *v = (*v & UINT32_MAX) | (uint64_t) value << 32;
        else
                *v = (*v & ~(uint64_t) UINT32_MAX) | value;
}

static uint64_t *queue_address(Virtq *q, uint64_t offset) {
        switch (offset & ~(uint64_t) 4) {
        case VIRTIO_MMIO_QUEUE_DESC_LOW:
                return &q->desc_gpa;
        case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
                return &q->avail_gpa;
        default:
                return &q->used_gpa;
        }
}

static uint64_t read_config(Vmmio *m, uint64_t offset, unsigned size) {
        uint8_t buf[VMMIO_CONFIG_MAX];
        uint64_t value = 0;

        if ((size != 1 && size != 2 && size != 4 && size != 8) || offset % size != 0 ||
            offset > m->dev.config_size || size > m->dev.config_size - offset) {
                bad_access(m, "configuration read", VIRTIO_MMIO_CONFIG + offset, size);
                return 0;
        }
        m->dev.config_read(m->dev_opaque, buf);
        for (unsigned i = size; i-- > 0;)
                value = value << 8 | buf[offset + i];
        return value;
}

uint64_t vmmio_read(Vmmio *m, uint64_t offset, unsigned size) {
        Virtq *q = m->queue_sel < m->dev.num_queues ? &m->queues[m->queue_sel] : NULL;

        if (offset >= VIRTIO_MMIO_CONFIG)
                return read_config(m, offset - VIRTIO_MMIO_CONFIG, size);
        if (size != 4 || offset % 4 != 0) {
                bad_access(m, "read", offset, size);
                return 0;
        }
        switch (offset) {
        case VIRTIO_MMIO_MAGIC_VALUE:
                return VMMIO_MAGIC;
        case VIRTIO_MMIO_VERSION:
                return VMMIO_VERSION;
        case VIRTIO_MMIO_DEVICE_ID:
                return m->dev.device_id;
        case VIRTIO_MMIO_VENDOR_ID:
                return m->dev.vendor_id;
        case VIRTIO_MMIO_DEVICE_FEATURES:
                return m->device_features_sel > 1 ? 0 : (uint32_t) (m->dev.features >> (32 * m->device_features_sel));
        case VIRTIO_MMIO_QUEUE_NUM_MAX:
                return q ? m->dev.queue_num_max : 0;
        case VIRTIO_MMIO_QUEUE_READY:
                return q && q->started;
        case VIRTIO_MMIO_INTERRUPT_STATUS:
                return m->interrupt_status;
        case VIRTIO_MMIO_STATUS:
                return m->status;
        case VIRTIO_MMIO_SHM_LEN_LOW:
        case VIRTIO_MMIO_SHM_LEN_HIGH:
        case VIRTIO_MMIO_SHM_BASE_LOW:
        case VIRTIO_MMIO_SHM_BASE_HIGH:
                return UINT32_MAX;      /* no shared memory region: length and base read as -1 */
        case VIRTIO_MMIO_CONFIG_GENERATION:
                return m->config_generation;
        default:
                bad_access(m, "read of a write-only or unknown register", offset, size);
                return 0;
        }
}

void vmmio_write(Vmmio *m, uint64_t offset, unsigned size, uint64_t value64) {
        Virtq *q = m->queue_sel < m->dev.num_queues ? &m->queues[m->queue_sel] : NULL;
        uint32_t value = (uint32_t) value64;

        if (offset >= VIRTIO_MMIO_CONFIG) {
                bad_access(m, "configuration write", offset, size);     /* nothing in it is writable */
                return;
        }
        if (size != 4 || offset % 4 != 0) {
                bad_access(m, "write", offset, size);
                return;
        }
        switch (offset) {
        case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
                m->device_features_sel = value;
                return;
        case VIRTIO_MMIO_DRIVER_FEATURES:
                if (m->driver_features_sel > 1 || (m->status & VIRTIO_CONFIG_S_FEATURES_OK))
                        break;
                set_half(&m->driver_features, m->driver_features_sel == 1, value);
                return;
        case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
                m->driver_features_sel = value;
                return;
        case VIRTIO_MMIO_QUEUE_SEL:
                m->queue_sel = value;
                return;
        case VIRTIO_MMIO_QUEUE_NUM:
                if (!q || q->started)
                        break;
                q->num = value;
                return;
        case VIRTIO_MMIO_QUEUE_READY:
                if (!q || value > 1)
                        break;
                write_queue_ready(m, q, value);
                return;
        case VIRTIO_MMIO_QUEUE_NOTIFY:
                vmmio_notify(m, value);
                return;
        case VIRTIO_MMIO_SHM_SEL:
                return;                 /* every region reads as absent */
        case VIRTIO_MMIO_INTERRUPT_ACK:
                ack_interrupt(m, value);
                return;
        case VIRTIO_MMIO_STATUS:
                write_status(m, value);
                return;
        case VIRTIO_MMIO_QUEUE_DESC_LOW:
        case VIRTIO_MMIO_QUEUE_DESC_HIGH:
        case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
        case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
        case VIRTIO_MMIO_QUEUE_USED_LOW:
        case VIRTIO_MMIO_QUEUE_USED_HIGH:
                if (!q || q->started)
                        break;
                set_half(queue_address(q, offset), offset & 4, value);
                return;
        default:
                break;
        }
        bad_access(m, "write to a read-only or unknown register, or at the wrong time", offset, size);
}

void vmmio_notify(Vmmio *m, unsigned queue) {
        m->stats.kicks++;
        if (!vmmio_queue(m, queue)) {
                m->stats.kicks_ignored++;
                vlog_debug("device %" PRIu32 ": kick of queue %u ignored (status 0x%" PRIx32 ")", m->dev.device_id,
                           queue, m->status);
                return;
        }
        m->dev.queue_notify(m->dev_opaque, queue);
}

bool vmmio_interrupt_level(const Vmmio *m) {
        return m->interrupt_status != 0;
}

const VmmioStats *vmmio_stats(const Vmmio *m) {
        return &m->stats;
}

Virtq *vmmio_queue(Vmmio *m, unsigned queue) {
        if (queue >= m->dev.num_queues || !running(m) || !m->queues[queue].started)
                return NULL;
        return &m->queues[queue];
}

uint64_t vmmio_driver_features(const Vmmio *m) {
        return m->driver_features;
}

void vmmio_queue_used(Vmmio *m, Virtq *q) {
        if (virtq_should_interrupt(q))
                raise_interrupt(m, VIRTIO_MMIO_INT_VRING);
}

void vmmio_fail(Vmmio *m) {
        if (m->status & VIRTIO_CONFIG_S_NEEDS_RESET)
                return;
        m->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
        m->stats.failures++;
        /* a driver that is not running yet sees it in Status; a running one must be told */
        if (m->status & VIRTIO_CONFIG_S_DRIVER_OK)
                raise_interrupt(m, VIRTIO_MMIO_INT_CONFIG);
}

void vmmio_config_changed(Vmmio *m) {
        m->config_generation++;
        if (m->status & VIRTIO_CONFIG_S_DRIVER_OK)
                raise_interrupt(m, VIRTIO_MMIO_INT_CONFIG);
}

int vmmio_new(Vmmio **ret, const VmmioDevice *dev, void *dev_opaque, GuestMem *mem, VmmioIrqFn irq,
              void *irq_opaque) {
        Vmmio *m;

        if (dev->num_queues < 1 || dev->num_queues > VMMIO_QUEUES_MAX || dev->queue_num_max < 1 ||
            dev->queue_num_max > VMMIO_QUEUE_NUM_MAX || dev->config_size > VMMIO_CONFIG_MAX ||
            !(dev->features & (UINT64_C(1) << VIRTIO_F_VERSION_1)) || !dev->config_read || !dev->queue_notify ||
            !dev->reset || !irq)
                return -EINVAL;
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        *m = (Vmmio) { .dev = *dev, .dev_opaque = dev_opaque, .mem = mem, .irq = irq, .irq_opaque = irq_opaque };
        *ret = m;
        return 0;
}

Vmmio *vmmio_free(Vmmio *m) {
        if (!m)
                return NULL;
        for (unsigned i = 0; i < m->dev.num_queues; i++)
                virtq_stop(&m->queues[i]);
        free(m);
        return NULL;
}
