/*
 * Bus 0 configuration access through 0xCF8/0xCFC (PCI Local Bus 3.0,
 * 3.2.2.3.2) and BAR sizing (6.2.5.1).
 */
#include "runtime.h"
#include "pci.h"

static void select_register(int slot, int offset)
{
    outl(PCI_CONFIG_ADDRESS, 0x80000000u | ((uint32_t)slot << 11) | ((uint32_t)offset & 0xfc));
}

uint32_t pci_read32(int slot, int offset)
{
    select_register(slot, offset);
    return inl(PCI_CONFIG_DATA);
}

uint16_t pci_read16(int slot, int offset)
{
    select_register(slot, offset);
    return inw(PCI_CONFIG_DATA + (offset & 2));
}

uint8_t pci_read8(int slot, int offset)
{
    select_register(slot, offset);
    return inb(PCI_CONFIG_DATA + (offset & 3));
}

void pci_write32(int slot, int offset, uint32_t value)
{
    select_register(slot, offset);
    outl(PCI_CONFIG_DATA, value);
}

void pci_write16(int slot, int offset, uint16_t value)
{
    select_register(slot, offset);
    outw(PCI_CONFIG_DATA + (offset & 2), value);
}

int pci_find(uint16_t vendor, uint16_t device)
{
    for (int slot = 0; slot < 32; slot++) {
        uint32_t id = pci_read32(slot, PCI_VENDOR_ID);
        if ((id & 0xffff) == vendor && (id >> 16) == device)
            return slot;
    }
    return -1;
}

uint64_t pci_bar_address(int slot, int bar, uint64_t fallback)
{
    int reg = PCI_BAR0 + 4 * bar;
    uint32_t low = pci_read32(slot, reg);
    if (low & 1)
        return 0;
    int is64 = (low & 0x6) == 0x4;
    uint64_t addr = low & ~0xfu;
    if (is64)
        addr |= (uint64_t)pci_read32(slot, reg + 4) << 32;
    if (addr != 0)
        return addr;
    /* Unassigned: size it with decoding off, then place it at `fallback`. */
    uint16_t command = pci_read16(slot, PCI_COMMAND);
    pci_write16(slot, PCI_COMMAND, command & ~PCI_COMMAND_MEMORY);
    pci_write32(slot, reg, 0xffffffffu);
    uint32_t mask = pci_read32(slot, reg) & ~0xfu;
    serial_printf("pci: slot %d BAR%d unassigned, size 0x%x, placing at 0x%lx\n", slot, bar, (unsigned)(~mask + 1), fallback);
    pci_write32(slot, reg, (uint32_t)fallback);
    if (is64)
        pci_write32(slot, reg + 4, (uint32_t)(fallback >> 32));
    pci_write16(slot, PCI_COMMAND, command);
    return fallback;
}
