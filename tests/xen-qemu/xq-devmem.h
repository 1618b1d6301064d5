/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xq-devmem.h: guest MMIO through /dev/mem, for the harness's static guest
 * programs (xq-guest, xq-vdev).  Each access is one volatile load or store on
 * a mapping of the physical page, so that each one traps into Xen and reaches
 * an ioreq server.  The guest kernel needs iomem=relaxed (mkcfg passes it).
 */
#ifndef XQ_DEVMEM_H
#define XQ_DEVMEM_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

struct map {
        uint64_t page;
        volatile uint8_t *p;
};
static struct map maps[32];
static unsigned nmaps;
static int memfd = -1;

static int devmem_open(void)
{
        memfd = open("/dev/mem", O_RDWR | O_SYNC | O_CLOEXEC);
        return memfd < 0 ? -errno : 0;
}

static volatile uint8_t *acc_ptr(uint64_t addr)
{
        uint64_t page = addr & ~0xfffull;
        for (unsigned i = 0; i < nmaps; i++)
                if (maps[i].page == page)
                        return maps[i].p + (addr - page);
        if (nmaps == sizeof(maps) / sizeof(maps[0]))
                return NULL;
        /* two pages, so that an access crossing into the next page stays one instruction */
        void *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, (off_t)page);
        if (p == MAP_FAILED)
                return NULL;
        maps[nmaps].page = page;
        maps[nmaps].p = p;
        return maps[nmaps++].p + (addr - page);
}

static int acc_read(unsigned size, uint64_t addr, uint64_t *val)
{
        volatile uint8_t *p = acc_ptr(addr);
        if (!p)
                return -ENOMEM;
        switch (size) {
        case 1: *val = *p; break;
        case 2: *val = *(volatile uint16_t *)p; break;
        case 4: *val = *(volatile uint32_t *)p; break;
        case 8: *val = *(volatile uint64_t *)p; break;
        default: return -EINVAL;
        }
        return 0;
}

static int acc_write(unsigned size, uint64_t addr, uint64_t val)
{
        volatile uint8_t *p = acc_ptr(addr);
        if (!p)
                return -ENOMEM;
        switch (size) {
        case 1: *p = (uint8_t)val; break;
        case 2: *(volatile uint16_t *)p = (uint16_t)val; break;
        case 4: *(volatile uint32_t *)p = (uint32_t)val; break;
        case 8: *(volatile uint64_t *)p = val; break;
        default: return -EINVAL;
        }
        return 0;
}

#endif
