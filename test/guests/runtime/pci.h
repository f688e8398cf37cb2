/*
 * PCI configuration mechanism #1 (PCI Local Bus 3.0, 3.2.2.3.2) for the test
 * guests: CONFIG_ADDRESS at 0xCF8, CONFIG_DATA at 0xCFC-0xCFF, bus 0 only.
 */
#ifndef TKVM_GUEST_PCI_H
#define TKVM_GUEST_PCI_H

#include <stdint.h>

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc

#define PCI_VENDOR_ID 0x00
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_CLASS_REVISION 0x08
#define PCI_BAR0 0x10
#define PCI_CAPABILITY_LIST 0x34
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11

uint32_t pci_read32(int slot, int offset);
uint16_t pci_read16(int slot, int offset);
uint8_t pci_read8(int slot, int offset);
void pci_write32(int slot, int offset, uint32_t value);
void pci_write16(int slot, int offset, uint16_t value);

/* The first slot on bus 0 with this vendor:device, or -1. */
int pci_find(uint16_t vendor, uint16_t device);

/*
 * The guest-physical address of a memory BAR. If it is unassigned (0) it is
 * sized and placed at `fallback`. Returns 0 for an I/O BAR.
 */
uint64_t pci_bar_address(int slot, int bar, uint64_t fallback);

#endif
