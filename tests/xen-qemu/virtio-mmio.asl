/*
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The virtio-mmio device of the harness's HVM guest, described to the guest's Linux as an
 * extra ACPI table.  run.sh compiles it with iasl and puts it in the guest's initrd as
 * kernel/firmware/acpi/xq-virtio.aml in an uncompressed cpio ahead of the root, where the
 * kernel's ACPI table upgrade (CONFIG_ACPI_TABLE_UPGRADE) installs it before it scans the
 * namespace.  Linux's virtio_mmio driver binds to the _HID LNRO0005 and takes the device's
 * register window and interrupt from _CRS.
 *
 * The window: 512 bytes at 0xfe000000, above hvmloader's PCI hole (0xf0000000-0xfc000000)
 * and below the IOAPIC (0xfec00000), in an area no emulated device of the HVM guest uses.
 * A dom0 ioreq server covering it gets every access.
 *
 * The interrupt: ISA IRQ 7, edge-triggered, active high (the ISA default, so no MADT
 * override applies), raised from dom0 with xendevicemodel_set_isa_irq_level(1) followed by
 * (0) for every interrupt.  IRQ 7 is not driven by the guest's QEMU device model and not one
 * of hvmloader's PCI link IRQs (5, 10, 11).  See README.md ("The HVM guest").
 */
DefinitionBlock ("", "SSDT", 2, "XIOREQ", "XQVIRTIO", 1)
{
    Scope (\_SB)
    {
        Device (VRT0)
        {
            Name (_HID, "LNRO0005")
            Name (_UID, 0)
            Name (_CRS, ResourceTemplate ()
            {
                Memory32Fixed (ReadWrite, 0xFE000000, 0x00000200)
                Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 7 }
            })
        }
    }
}
